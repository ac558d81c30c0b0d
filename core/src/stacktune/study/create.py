"""Creating, loading and listing studies in any Optuna storage."""

from __future__ import annotations

import logging
import os
import random
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy
import sqlalchemy.event

from stacktune.cache import ResponseCache, open_cache
from stacktune.errors import StacktuneError
from stacktune.objectives import Objective, ObjectiveLike, resolve_objectives
from stacktune.records import ATTR_OBJECTIVES
from stacktune.search import Search, resolve_search
from stacktune.shared import shared_state_for
from stacktune.study._ledger import study_scope
from stacktune.study.study import Study

if TYPE_CHECKING:
    import pluggy

logger = logging.getLogger("stacktune")

#: Where studies go when no storage is given: a SQLite file in the working directory.
DEFAULT_STORAGE = "sqlite:///stacktune.db"

Storage = str | optuna.storages.BaseStorage


#: Creating the tables of a new database can race with another process creating them: retry this often.
_OPEN_ATTEMPTS = 8


def open_storage(storage: Storage | None) -> optuna.storages.BaseStorage:
    """The Optuna storage for a URL (or the storage given), safe when several processes create it at once.

    A new SQLite (or other RDB) database gets its tables from whichever process comes first;
    the others' "table already exists" or "UNIQUE constraint failed" is retried, not raised.
    Errors name the URL and the fix: an unknown scheme, a missing directory, a missing driver.
    """
    if storage is not None and not isinstance(storage, str):
        return storage
    url = database_url(DEFAULT_STORAGE if storage is None else storage)
    if url.startswith("grpc://"):
        return _grpc_proxy(url)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return _rdb_storage(url)
        except ModuleNotFoundError as exc:
            extra = " (pip install 'stacktune[postgres]' for PostgreSQL)" if "psycopg" in str(exc) else ""
            raise StacktuneError(
                f"cannot open storage {url!r}: its database driver is not installed ({exc}){extra}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's errors, sorted out below
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if _creation_race(message) and attempt + 1 < _OPEN_ATTEMPTS:
                time.sleep(0.05 * (attempt + 1) + random.random() * 0.05)
                continue
            raise StacktuneError(f"cannot open storage {url!r}: {message}{_storage_hint(url, message)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


#: How long a worker waits for Optuna's gRPC storage proxy to answer before it gives up.
_PROXY_WAIT = 30.0


def _grpc_proxy(url: str) -> optuna.storages.BaseStorage:
    """``grpc://host:port``: Optuna's gRPC storage proxy (``stacktune storage-proxy`` runs one)."""
    host, _, port = url.removeprefix("grpc://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise StacktuneError(f"cannot open storage {url!r}: give the proxy as grpc://host:port")
    try:
        import grpc  # noqa: F401
    except ModuleNotFoundError:
        raise StacktuneError(
            f"cannot open storage {url!r}: Optuna's gRPC proxy needs grpcio: pip install 'stacktune[grpc]'"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    try:  # a worker a scheduler starts with (or before) the proxy waits for it instead of dying
        proxy.wait_server_ready(timeout=_PROXY_WAIT)
    except ConnectionError:
        raise StacktuneError(
            f"cannot open storage {url!r}: no gRPC storage proxy answered there within {_PROXY_WAIT:.0f} s "
            "(start one with: stacktune storage-proxy DATABASE_URL --port PORT)"
        ) from None
    return proxy


def database_url(url: str) -> str:
    """The SQLAlchemy URL stacktune opens: ``postgresql://`` is opened with psycopg 3 (``postgresql+psycopg://``).

    SQLAlchemy would pick psycopg2 for a bare ``postgresql://``; stacktune's extra installs
    psycopg 3 (``pip install 'stacktune[postgres]'``), so it is named here, and said once in the log.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        raise StacktuneError(
            f"cannot open storage {url!r}: PostgreSQL needs the psycopg 3 driver: pip install 'stacktune[postgres]'"
        ) from None
    logger.info("opening %s with the psycopg 3 driver (postgresql+psycopg://)", scheme + "://" + rest.split("@")[-1])
    return f"postgresql+psycopg://{rest}"


#: SQLite makes a writer wait for another's lock this long (seconds) before "database is locked": several
#: processes (and each one's heartbeat) write to one file.
_SQLITE_LOCK_WAIT = 30.0


def _rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for a URL (Optuna adds its cache when the study is made)."""
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": _SQLITE_LOCK_WAIT}
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    if url.startswith("sqlite"):
        _write_locked_transactions(storage.engine)
    return storage


def _write_locked_transactions(engine: sqlalchemy.engine.Engine) -> None:
    """Every SQLite transaction takes the write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna hands out a queued trial by reading it WAITING, then writing it RUNNING. SQLite
    ignores ``SELECT ... FOR UPDATE`` and Python's driver begins a transaction only at the
    first write, so two processes (or two storages in one) could both read it WAITING and
    both run it: the baseline ran twice and a worker died telling a finished trial. This is
    SQLAlchemy's documented recipe for serializable SQLite transactions.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sqlalchemy.engine.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while creating the tables predate the listeners


def _creation_race(message: str) -> bool:
    return any(
        sign in message
        for sign in ("already exists", "UNIQUE constraint failed", "database is locked", "duplicate key value")
    )


def _storage_hint(url: str, message: str) -> str:
    if "unable to open database file" in message and url.startswith("sqlite:///"):
        folder = os.path.dirname(url.removeprefix("sqlite:///")) or "."
        return f"; does the directory {folder!r} exist?"
    if "Could not parse" in message or "Can't load plugin" in message:
        return "; give an Optuna storage URL such as sqlite:///stacktune.db or postgresql://user@host/db"
    return ""


def _url(storage: Storage | None) -> str | None:
    if storage is None:
        return DEFAULT_STORAGE
    return storage if isinstance(storage, str) else None


def _study(
    optuna_study: optuna.Study,
    objectives: Sequence[Objective],
    search: Search,
    plugin_manager: pluggy.PluginManager | None,
    storage: Storage | None,
    shared_state: str | None,
    response_cache: ResponseCache | str | bool | None,
) -> Study:
    shared = shared_state_for(optuna_study._storage, shared_state)
    if isinstance(response_cache, str):
        response_cache = open_cache(response_cache)
    elif response_cache is not None and not isinstance(response_cache, (bool, ResponseCache)):
        raise TypeError(
            "response_cache must be None (beside the storage), False (no study cache), a ResponseCache, "
            f"a URL or a directory, got {response_cache!r}"
        )
    return Study(
        optuna_study,
        objectives,
        search,
        plugin_manager=plugin_manager,
        storage_url=_url(storage),
        shared_state=shared,
        response_cache=response_cache,
    )


def create_study(
    study_name: str | None = None,
    storage: Storage | None = None,
    objectives: Sequence[ObjectiveLike] | ObjectiveLike = ("score",),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    load_if_exists: bool = True,
    *,
    search: Search | None = None,
    seed: int | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    shared_state: str | None = None,
    response_cache: ResponseCache | str | bool | None = None,
) -> Study:
    """Create (or, by default, load) a study.

    ``storage`` is any Optuna storage or URL; by default ``sqlite:///stacktune.db`` in
    the working directory, which ``optuna-dashboard`` opens. ``objectives`` are names
    (``score`` maximized; ``cost``, ``latency``, ``tokens`` minimized) or
    :class:`~stacktune.Objective` objects. ``search`` is how configurations are chosen:
    :class:`~stacktune.Racing` by default (TPE, and trials raced against the best so far);
    a ``sampler`` or ``pruner`` gives Optuna's own search with them. ``seed`` seeds the
    default sampler. ``shared_state`` is where the study's processes keep their shared counters
    (trials, budget, rate limits): by default beside the storage (:mod:`stacktune.shared`);
    ``redis://...`` or a database URL for a storage stacktune cannot see into (Optuna's gRPC proxy).
    ``response_cache`` is where the answers of the study's LLM calls are kept, for every adapter and
    every worker (:mod:`stacktune.cache`): by default beside the shared state (a ``stacktune_responses``
    table in the study's database, Redis, or memory); a :class:`~stacktune.cache.ResponseCache`, a URL
    or a directory to put them elsewhere; ``False`` for none (adapters then use their own defaults).
    """
    resolved = resolve_objectives(objectives)
    chosen = resolve_search(search, sampler, pruner)
    optuna_study = optuna.create_study(
        storage=open_storage(storage),
        sampler=chosen.sampler(seed),
        pruner=chosen.pruner(),
        study_name=study_name,
        load_if_exists=load_if_exists,
        directions=[o.direction for o in resolved],
    )
    stored = optuna_study.user_attrs.get(ATTR_OBJECTIVES)
    described = [{"name": o.name, "direction": o.direction} for o in resolved]
    if stored is not None:
        done = len(optuna_study.get_trials(deepcopy=False))
        logger.info("continuing study %r: %d trials so far", optuna_study.study_name, done)
    if stored is not None and stored != described:
        raise StacktuneError(
            f"study {optuna_study.study_name!r} exists with objectives {stored}, not {described}; "
            f"use load_study() or another study name"
        )
    if stored is None:
        optuna_study.set_user_attr(ATTR_OBJECTIVES, described)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna_study.set_metric_names([o.name for o in resolved])
    return _study(optuna_study, resolved, chosen, plugin_manager, storage, shared_state, response_cache)


def load_study(
    study_name: str,
    storage: Storage | None = None,
    *,
    objectives: Sequence[Objective] = (),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    search: Search | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    shared_state: str | None = None,
    response_cache: ResponseCache | str | bool | None = None,
) -> Study:
    """Load a stored study. Custom objectives are code: pass them again (matched by name).

    ``shared_state`` and ``response_cache`` are as in :func:`create_study`.
    """
    chosen = resolve_search(search, sampler, pruner)
    optuna_study = optuna.load_study(
        study_name=study_name, storage=open_storage(storage), sampler=chosen.sampler(None), pruner=chosen.pruner()
    )
    stored = optuna_study.user_attrs.get(ATTR_OBJECTIVES)
    if stored is None:
        names = optuna_study.metric_names or ["score"]
        directions = optuna_study.directions
        stored = [{"name": n, "direction": d.name.lower()} for n, d in zip(names, directions, strict=False)]
    given = {o.name: o for o in objectives}
    resolved: list[Objective] = []
    for item in stored:
        if item["name"] in given:
            resolved.append(given[item["name"]])
        else:
            try:
                resolved.extend(resolve_objectives(item["name"]))
            except ValueError:
                raise StacktuneError(
                    f"study {study_name!r} uses the custom objective {item['name']!r}: pass it again with "
                    f"load_study(..., objectives=[Objective({item['name']!r}, ...)])"
                ) from None
    return _study(optuna_study, resolved, chosen, plugin_manager, storage, shared_state, response_cache)


def delete_study(study_name: str, storage: Storage | None = None, *, shared_state: str | None = None) -> bool:
    """Delete a stored study and its shared counters (trials claimed, money spent); False when there was none."""
    opened = open_storage(storage)
    try:
        optuna_study = optuna.load_study(study_name=study_name, storage=opened)
    except KeyError:
        return False
    shared_state_for(opened, shared_state).delete(study_scope(optuna_study))
    optuna.delete_study(study_name=study_name, storage=opened)
    return True


def study_summaries(storage: Storage | None = None) -> list[dict[str, Any]]:
    """Name, trial count and objectives of every study in a storage."""
    summaries = optuna.get_all_study_summaries(storage=open_storage(storage))
    return [
        {"study_name": s.study_name, "n_trials": s.n_trials, "objectives": s.user_attrs.get(ATTR_OBJECTIVES)}
        for s in summaries
    ]


__all__ = [
    "DEFAULT_STORAGE",
    "create_study",
    "database_url",
    "delete_study",
    "load_study",
    "open_storage",
    "study_summaries",
]
