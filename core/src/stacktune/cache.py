"""One response cache for every adapter, tied to the study: nothing is paid for twice.

A study's trials repeat themselves: the baseline again, configurations the search comes
back to, a resumed study, a second worker on the same study. Every adapter asks
:func:`current_cache` (or takes a cache it was given) and looks an answer up by
:func:`cache_key` before it calls a model; a hit is reported as a cache hit in
:class:`~stacktune.Usage` (its tokens and cost as ``cached_*``), so a budget does not count it.

The key is a hash of what decides the answer, and of nothing else:

- the model (its identity: provider and name, the endpoint URL or the in-process client);
- every parameter that changes the answer: temperature, top_p, max_tokens, stop, seed, tools,
  the response format and any other sampling argument, whatever its name;
- the messages.

Credentials and transport never take part (:data:`NOT_IN_KEY`: API keys, headers, timeouts,
retries, callbacks): two users with different keys share answers, and a key never lands in a
cache. A parameter the key cannot read exactly (an object without a stable form) makes a miss,
never a wrong hit.

Where the cache lives follows the study's storage, as :mod:`stacktune.shared` does, so every
worker of a study shares it with nothing more than the storage URL:

- an RDB storage (SQLite, PostgreSQL, MySQL): a table of ours, ``stacktune_responses``, in the
  same database;
- Redis, when the study's shared state is Redis: one key per answer (``stacktune:response:<key>``);
- a journal file: the SQLite file beside it that holds the shared state;
- the in-memory storage: this process's memory;
- outside a study: nothing, unless the adapter has a default (the prompt adapter keeps answers
  in ``.stacktune-cache/responses.sqlite3``, a :class:`FileCache`).
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import enum
import hashlib
import json
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacktune.shared import MemoryState, RedisState, SharedState, SqlState, _without_password

#: The default directory of the prompt adapter's file cache, relative to the working directory.
DEFAULT_CACHE_DIR = ".stacktune-cache"
_FILE_NAME = "responses.sqlite3"
_TABLE = "stacktune_responses"
_REDIS_PREFIX = "stacktune:response:"

#: Parameters that never change the answer: credentials, transport, bookkeeping. Left out of every key.
NOT_IN_KEY = frozenset(
    {
        "api_key",
        "headers",
        "extra_headers",
        "default_headers",
        "default_query",
        "extra_query",
        "authorization",
        "organization",
        "openai_organization",
        "http_client",
        "http_async_client",
        "client",
        "async_client",
        "root_client",
        "root_async_client",
        "timeout",
        "request_timeout",
        "max_retries",
        "num_retries",
        "retry",
        "callbacks",
        "metadata",
        "tags",
        "verbose",
        "cache",
        "rate_limiter",
        "stream",
        "streaming",
        "stream_usage",
        "stream_options",
        "rollout_id",
    }
)

#: Parameters holding more parameters (provider extras): their own credentials are left out too.
_NESTED = frozenset({"model_kwargs", "extra_body", "kwargs"})


def _left_out(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in NOT_IN_KEY
        or lowered.endswith("api_key")
        or lowered.endswith("_headers")
        or "secret" in lowered
        or "password" in lowered
    )


def answer_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters that change the answer: ``params`` without credentials and transport (:data:`NOT_IN_KEY`)."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if _left_out(str(name)):
            continue
        kept[str(name)] = answer_params(value) if name in _NESTED and isinstance(value, Mapping) else value
    return kept


def _stable(value: Any) -> Any:
    """A JSON form for what ``json`` cannot write: pydantic models and classes, dataclasses, enums, sets."""
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return {"schema": value.model_json_schema()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)  # an object with no stable form: at worst a miss, never a wrong hit


def cache_key(model: str, params: Mapping[str, Any], messages: Any) -> str:
    """The key of one request: a SHA-256 of the model, the parameters that change the answer and the messages.

    ``model`` is the model's identity (e.g. ``"openai/gpt-4o-mini"``, ``"endpoint:http://host/v1|smol"``);
    ``params`` every argument of the call (credentials and transport are dropped here, see
    :data:`NOT_IN_KEY`); ``messages`` the conversation (or a prompt, in any JSON-able form).
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"cache_key needs the model's identity as a non-empty string, got {model!r}")
    if not isinstance(params, Mapping):
        raise TypeError(f"cache_key needs the call's parameters as a mapping, got {type(params).__name__}")
    payload = json.dumps(
        {"model": model, "params": answer_params(params), "messages": messages},
        sort_keys=True,
        ensure_ascii=False,
        default=_stable,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """One recorded answer: its text, what producing it cost, and (optionally) the adapter's own form of it.

    ``payload`` is whatever an adapter needs to give the answer back as its framework's object
    (LangChain's generations, DSPy's response), as text (JSON); ``text`` is the answer people read.
    """

    text: str
    input_tokens: int
    output_tokens: int
    latency: float
    payload: str | None = None

    def to_json(self) -> str:
        """The entry as one JSON text (for stores that keep a string per key)."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CachedResponse:
        """The entry back from :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            text=str(data["text"]),
            input_tokens=int(data["input_tokens"]),
            output_tokens=int(data["output_tokens"]),
            latency=float(data["latency"]),
            payload=data.get("payload"),
        )


class ResponseCache(abc.ABC):
    """Answers by :func:`cache_key`, shared by every thread (and, but for :class:`MemoryCache`, process) using it."""

    #: Where the answers live, for messages (a URL without its password, a file, or "this process").
    where: str = "this process"

    def __new__(cls, *args: Any, **kwargs: Any) -> ResponseCache:
        """``ResponseCache(directory)`` (deprecated) makes a :class:`FileCache`; subclasses are made as usual."""
        if cls is ResponseCache:  # the prompt adapter's ResponseCache(directory), before the cache moved here
            warnings.warn(
                "ResponseCache(directory) is deprecated: use stacktune.cache.FileCache(directory) "
                "(ResponseCache is now the interface every cache implements)",
                DeprecationWarning,
                stacklevel=2,
            )
            return super().__new__(FileCache)
        return super().__new__(cls)

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache (``__len__`` would make it falsy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r})"

    @property
    def shared_across_processes(self) -> bool:
        """False for the in-memory cache: only this process's threads see it."""
        return True

    @abc.abstractmethod
    def get(self, key: str) -> CachedResponse | None:
        """The answer stored under ``key``, or None."""

    @abc.abstractmethod
    def put(self, key: str, response: CachedResponse) -> None:
        """Store an answer (an answer already stored under the key is kept: both are answers to the same request)."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many answers are stored."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget every answer."""

    def close(self) -> None:  # noqa: B027 - most caches hold nothing to release
        """Release connections (the next use opens them again)."""


class MemoryCache(ResponseCache):
    """Answers in this process's memory (the in-memory storage's cache; the threads of one process share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, CachedResponse] = {}

    @property
    def shared_across_processes(self) -> bool:
        """False: only this process sees it."""
        return False

    def get(self, key: str) -> CachedResponse | None:
        """Under the process's lock."""
        with self._lock:
            return self._answers.get(key)

    def put(self, key: str, response: CachedResponse) -> None:
        """Under the process's lock; the first answer stays."""
        with self._lock:
            self._answers.setdefault(key, response)

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)

    def clear(self) -> None:
        """Under the process's lock."""
        with self._lock:
            self._answers.clear()


class SqlCache(ResponseCache):
    """Answers in a table of ours (``stacktune_responses``) in a SQL database: the study's own, or a file.

    Every read and write is one statement, so threads and processes share it safely; a write that
    meets an answer already stored under its key keeps the stored one.
    """

    def __init__(self, engine: Any = None, where: str = "", *, url: str | None = None) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self._engine = engine
        self._owns_engine = engine is None  # an engine of its own is disposed on close; a storage's is the storage's
        self._url = url
        self.where = where or (_without_password(url) if url else "a database")
        self._lock = threading.Lock()
        self._ready = False
        metadata = sa.MetaData()
        self.table = sa.Table(
            _TABLE,
            metadata,
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("payload", sa.Text(), nullable=True),
            sa.Column("input_tokens", sa.Integer(), nullable=False),
            sa.Column("output_tokens", sa.Integer(), nullable=False),
            sa.Column("latency", sa.Double(), nullable=False),
            sa.Column("created", sa.Double(), nullable=False),
        )
        self._metadata = metadata

    @classmethod
    def from_url(cls, url: str) -> SqlCache:
        """A cache in the database of a SQLAlchemy URL (its own engine, opened on first use)."""
        return cls(url=url)

    @property
    def engine(self) -> Any:
        """The database's engine, the table created the first time it is needed."""
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
            if not self._ready:
                self._create_table()
                self._ready = True
            return self._engine

    def _create_engine(self) -> Any:
        sa = self._sa
        assert self._url is not None
        if not self._url.startswith("sqlite"):
            return sa.create_engine(self._url)
        engine = sa.create_engine(self._url, connect_args={"timeout": 30.0})
        sa.event.listen(engine, "connect", _wal)
        return engine

    def _create_table(self) -> None:
        """Create the table unless it exists; another process creating it at the same moment is fine."""
        sa = self._sa
        for attempt in range(8):
            try:
                self._metadata.create_all(self._engine, checkfirst=True)
                return
            except sa.exc.DBAPIError:
                if sa.inspect(self._engine).has_table(_TABLE):
                    return
                if attempt == 7:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def get(self, key: str) -> CachedResponse | None:
        """One ``SELECT`` by key."""
        c = self.table.c
        query = self._sa.select(c.text, c.input_tokens, c.output_tokens, c.latency, c.payload).where(c.key == key)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return CachedResponse(str(row[0]), int(row[1]), int(row[2]), float(row[3]), row[4])

    def put(self, key: str, response: CachedResponse) -> None:
        """One insert that yields to a stored answer (``ON CONFLICT DO NOTHING`` or the dialect's own)."""
        sa = self._sa
        row = {**dataclasses.asdict(response), "key": key, "created": time.time()}
        engine = self.engine
        dialect = engine.dialect.name
        with engine.begin() as connection:
            if dialect in ("postgresql", "sqlite"):
                module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
                connection.execute(module.insert(self.table).values(row).on_conflict_do_nothing())
            elif dialect in ("mysql", "mariadb"):
                connection.execute(sa.insert(self.table).values(row).prefix_with("IGNORE"))
            else:
                try:
                    with connection.begin_nested():
                        connection.execute(sa.insert(self.table).values(row))
                except sa.exc.IntegrityError:
                    pass

    def __len__(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(self._sa.select(self._sa.func.count()).select_from(self.table)).scalar_one())

    def clear(self) -> None:
        """Delete every row of the table."""
        with self.engine.begin() as connection:
            connection.execute(self._sa.delete(self.table))

    def close(self) -> None:
        """Dispose of the engine it opened itself (a storage's engine stays the storage's)."""
        with self._lock:
            if self._owns_engine and self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._ready = False


def _wal(connection: Any, record: Any) -> None:
    """A file cache's connections write ahead: readers never wait for a writer."""
    connection.execute("PRAGMA journal_mode=WAL")


class FileCache(SqlCache):
    """Answers in ``<directory>/responses.sqlite3``, created on first use: the cache of code run outside a study."""

    def __init__(self, directory: str | Path = DEFAULT_CACHE_DIR) -> None:
        self.directory = Path(directory)
        super().__init__(url=None, where=str(self.directory / _FILE_NAME))

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self.directory / _FILE_NAME

    def _create_engine(self) -> Any:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._url = f"sqlite:///{self.path}"
        return super()._create_engine()


class RedisCache(ResponseCache):
    """Answers in Redis, one string per answer (``stacktune:response:<key>``, the entry as JSON)."""

    def __init__(self, client: Any, where: str = "redis") -> None:
        self.client = client
        self.where = where

    @classmethod
    def from_url(cls, url: str) -> RedisCache:
        """A cache on the Redis server of a URL (``redis://host:6379/0``)."""
        state = RedisState(url)
        return cls(state.client, state.where)

    def get(self, key: str) -> CachedResponse | None:
        """``GET``."""
        raw = self.client.get(_REDIS_PREFIX + key)
        if raw is None:
            return None
        return CachedResponse.from_json(raw if isinstance(raw, str) else raw.decode())

    def put(self, key: str, response: CachedResponse) -> None:
        """``SET NX``: a stored answer stays."""
        self.client.set(_REDIS_PREFIX + key, response.to_json(), nx=True)

    def _keys(self) -> Iterator[Any]:
        return iter(self.client.scan_iter(match=_REDIS_PREFIX + "*", count=1000))

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())

    def clear(self) -> None:
        """Delete every answer's key."""
        for key in self._keys():
            self.client.delete(key)

    def close(self) -> None:
        """Close the client's connections (a shared state's client is closed with the state)."""
        self.client.close()


# -- where a study's cache lives, and how adapters find it ------------------------------------------------
_BESIDE: weakref.WeakKeyDictionary[SharedState, ResponseCache] = weakref.WeakKeyDictionary()
_FILES: dict[str, FileCache] = {}
_LOCK = threading.Lock()


def cache_beside(state: SharedState) -> ResponseCache:
    """The cache that lives where a study's shared state does (one per state and process).

    The same database (a table beside ``stacktune_counters``), the same Redis server, or this
    process's memory: every process that shares the study's counters shares its answers.
    """
    with _LOCK:
        cache = _BESIDE.get(state)
        if cache is None:
            if isinstance(state, SqlState):
                cache = SqlCache(state.engine, state.where)
            elif isinstance(state, RedisState):
                cache = RedisCache(state.client, state.where)
            elif isinstance(state, MemoryState):
                cache = MemoryCache()
            else:
                raise TypeError(f"no response cache can live beside a {type(state).__name__}; pass response_cache=")
            _BESIDE[state] = cache
        return cache


def open_cache(where: str | os.PathLike[str]) -> ResponseCache:
    """A cache at a URL (``redis://...`` or a SQLAlchemy database URL) or in a directory (a :class:`FileCache`)."""
    text = os.fspath(where)
    if text.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache.from_url(text)
    if "://" in text:
        return SqlCache.from_url(text)
    return FileCache(text)


def default_file_cache() -> FileCache:
    """The file cache in the working directory (``.stacktune-cache/``), one per directory and process."""
    directory = os.path.abspath(DEFAULT_CACHE_DIR)
    with _LOCK:
        cache = _FILES.get(directory)
        if cache is None:
            cache = _FILES[directory] = FileCache(DEFAULT_CACHE_DIR)
            cache.directory = Path(directory)  # the directory it was opened in, wherever the process moves later
        return cache


_CURRENT: contextvars.ContextVar[ResponseCache | None] = contextvars.ContextVar(
    "stacktune_response_cache", default=None
)


def current_cache() -> ResponseCache | None:
    """The cache of the study running in this context (its trials run inside :func:`using_cache`), else None."""
    return _CURRENT.get()


@contextmanager
def using_cache(cache: ResponseCache | None) -> Iterator[ResponseCache | None]:
    """Make ``cache`` the current one in this context and in the worker threads and tasks that copy it."""
    token = _CURRENT.set(cache)
    try:
        yield cache
    finally:
        _CURRENT.reset(token)


CacheOption = ResponseCache | str | os.PathLike[str] | bool | None


def resolve_cache(option: CacheOption, *, default: ResponseCache | None = None) -> ResponseCache | None:
    """The cache an adapter uses now, from its ``cache=`` option.

    A :class:`ResponseCache` (or a URL, or a directory) is used as it is; ``False`` means no cache;
    ``True`` or ``None`` mean the study's cache inside a study's trial, else ``default``.
    """
    if option is False:
        return None
    if isinstance(option, ResponseCache):
        return option
    if option is True or option is None:
        return current_cache() or default
    if isinstance(option, (str, os.PathLike)):
        return open_cache(option)
    raise TypeError(
        f"cache must be True (the study's), False (none), a ResponseCache, a URL or a directory, got {option!r}"
    )


def as_cache_option(option: object, what: str = "cache") -> CacheOption:
    """Check an adapter's ``cache=`` argument up front; a URL or directory is opened once, here."""
    if option is None or isinstance(option, (bool, ResponseCache)):
        return option
    if isinstance(option, (str, os.PathLike)):
        return open_cache(option)
    raise TypeError(
        f"{what} must be True (the study's cache), False (none), a ResponseCache, a URL or a directory, got {option!r}"
    )


__all__ = [
    "DEFAULT_CACHE_DIR",
    "NOT_IN_KEY",
    "CacheOption",
    "CachedResponse",
    "FileCache",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "SqlCache",
    "answer_params",
    "as_cache_option",
    "cache_beside",
    "cache_key",
    "current_cache",
    "default_file_cache",
    "open_cache",
    "resolve_cache",
    "using_cache",
]
