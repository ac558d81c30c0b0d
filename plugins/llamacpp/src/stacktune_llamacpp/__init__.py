"""stacktune-llamacpp: the embedded local model (SmolLM2-135M-Instruct through llama.cpp).

In-process with :class:`LocalModel`, or as an OpenAI-compatible server with :func:`serve`.
Importing this package does not import ``llama_cpp``: the weights load on first use.
"""

from stacktune_llamacpp.model import LocalModel
from stacktune_llamacpp.paths import DEFAULT_ALIAS, ModelNotFound, default_model_path, resolve_model_path
from stacktune_llamacpp.server import LocalServer, LocalServerError, free_port, serve

__all__ = [
    "DEFAULT_ALIAS",
    "LocalModel",
    "LocalServer",
    "LocalServerError",
    "ModelNotFound",
    "default_model_path",
    "free_port",
    "resolve_model_path",
    "serve",
]
