"""stacktune-llamacpp: the embedded local model (SmolLM2-135M-Instruct through llama.cpp).

In-process with :class:`LocalModel`, or as an OpenAI-compatible server with :func:`serve`.
Importing this package does not import ``llama_cpp``: the weights load on first use.
"""

from typing import TYPE_CHECKING

from stacktune.lazy import lazy_exports

if TYPE_CHECKING:
    from stacktune_llamacpp.model import LocalModel
    from stacktune_llamacpp.paths import DEFAULT_ALIAS, ModelNotFound, default_model_path, resolve_model_path
    from stacktune_llamacpp.server import LocalServer, LocalServerError, free_port, serve

# Imported on first use: loading the plugin (stacktune does, for every command) must not import the framework.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "LocalModel": "stacktune_llamacpp.model",
        "DEFAULT_ALIAS": "stacktune_llamacpp.paths",
        "ModelNotFound": "stacktune_llamacpp.paths",
        "default_model_path": "stacktune_llamacpp.paths",
        "resolve_model_path": "stacktune_llamacpp.paths",
        "LocalServer": "stacktune_llamacpp.server",
        "LocalServerError": "stacktune_llamacpp.server",
        "free_port": "stacktune_llamacpp.server",
        "serve": "stacktune_llamacpp.server",
    },
)

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
