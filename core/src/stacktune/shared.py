"""State every process of a study shares: counters and rate-limit clocks, kept beside the study.

Optuna's storage holds trials, and has no atomic counter. What the workers of one study must
agree on at once, whatever machine they run on, lives in a :class:`SharedState`:

- the study's trial claims (``optimize(total_trials=...)``: exactly that many trials in all);
- what the study spent (a :class:`~stacktune.Budget` counts every worker's calls);
- the pace of each rate-limited endpoint (:class:`~stacktune.RateLimit`).

Where it lives follows the storage, so a worker needs nothing more than the storage URL:

- an RDB storage (SQLite, PostgreSQL, MySQL): a table of ours, ``stacktune_counters``, in the
  same database; every update is one atomic statement (a row lock, not a lock of the study);
- Redis (``redis://...``), when configured (``shared_state=`` or ``STACKTUNE_SHARED_STATE``):
  one hash per scope, updated by Lua scripts (Optuna's gRPC storage proxy hides the database,
  so workers behind one share their counters this way);
- a journal file (``JournalStorage``): a SQLite file beside it (``<journal>.stacktune.db``);
- the in-memory storage: the process itself (its threads share it).
"""

from __future__ import annotations

import abc
import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import optuna

from stacktune.errors import StacktuneError

logger = logging.getLogger("stacktune")

#: An environment variable naming the shared state for every study of the process (``redis://host:6379/0``).
SHARED_STATE_ENV = "STACKTUNE_SHARED_STATE"

#: How long a statement waits for a busy SQLite file before giving up (seconds).
_SQLITE_BUSY_TIMEOUT = 30.0


class SharedState(abc.ABC):
    """Named counters in scopes, each update atomic across every thread and process that shares it."""

    #: Where the state lives, for messages (a URL without its password, or "this process").
    where: str = "this process"

    @property
    def shared_across_processes(self) -> bool:
        """False for the in-memory state: only this process's threads see it."""
        return True

    @abc.abstractmethod
    def add(self, scope: str, amounts: Mapping[str, float]) -> None:
        """Add each amount to its counter (a missing counter starts at 0)."""

    @abc.abstractmethod
    def add_at_most(self, scope: str, name: str, amount: float, limit: float) -> bool:
        """Add ``amount`` unless the counter would pass ``limit``; True when it was added."""

    @abc.abstractmethod
    def initialize(self, scope: str, name: str, value: float) -> None:
        """Set the counter to ``value`` unless it exists already (the first process to ask wins)."""

    @abc.abstractmethod
    def values(self, scope: str) -> dict[str, float]:
        """Every counter of the scope."""

    @abc.abstractmethod
    def reserve(self, scope: str, name: str, cost: float, now: float) -> float:
        """A clock for pacing: set it to ``max(clock, now) + cost`` and return the new value (one atomic step)."""

    def delete(self, scope: str) -> None:  # noqa: B027 - optional: a state that cannot delete keeps the counters
        """Forget every counter of the scope (a deleted study)."""

    def close(self) -> None:  # noqa: B027 - most states hold nothing to release
        """Release connections."""


class MemoryState(SharedState):
    """Counters in this process's memory: the threads of one process share them, other processes do not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], float] = {}

    @property
    def shared_across_processes(self) -> bool:
        """False: only this process's threads see it."""
        return False

    def add(self, scope: str, amounts: Mapping[str, float]) -> None:
        """Under the process's lock."""
        with self._lock:
            for name, amount in amounts.items():
                self._values[scope, name] = self._values.get((scope, name), 0.0) + amount

    def add_at_most(self, scope: str, name: str, amount: float, limit: float) -> bool:
        """Checked and added under the process's lock."""
        with self._lock:
            value = self._values.get((scope, name), 0.0)
            if value + amount > limit:
                return False
            self._values[scope, name] = value + amount
            return True

    def initialize(self, scope: str, name: str, value: float) -> None:
        """Under the process's lock."""
        with self._lock:
            self._values.setdefault((scope, name), value)

    def values(self, scope: str) -> dict[str, float]:
        """A copy, under the process's lock."""
        with self._lock:
            return {name: value for (s, name), value in self._values.items() if s == scope}

    def reserve(self, scope: str, name: str, cost: float, now: float) -> float:
        """Moved under the process's lock."""
        with self._lock:
            value = max(self._values.get((scope, name), now), now) + cost
            self._values[scope, name] = value
            return value

    def delete(self, scope: str) -> None:
        """Under the process's lock."""
        with self._lock:
            for key in [k for k in self._values if k[0] == scope]:
                del self._values[key]


class SqlState(SharedState):
    """Counters in a table of ours (``stacktune_counters``) in a SQL database, usually the study's own.

    Each update is one statement (``UPDATE ... SET value = value + :amount``), atomic under the
    database's row lock; no lock is held between statements.
    """

    def __init__(self, engine: Any, where: str, *, owns_engine: bool = False) -> None:
        import sqlalchemy as sa

        self._sa = sa
        self.engine = engine
        self.where = where
        self._owns_engine = owns_engine  # an engine of its own is disposed on close; a storage's is the storage's
        metadata = sa.MetaData()
        self.table = sa.Table(
            "stacktune_counters",
            metadata,
            sa.Column("scope", sa.String(255), primary_key=True),
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("value", sa.Double(), nullable=False),
        )
        self._create(metadata)

    @classmethod
    def from_url(cls, url: str) -> SqlState:
        """A state in the database of a SQLAlchemy URL (its own engine)."""
        import sqlalchemy as sa

        connect_args = {"timeout": _SQLITE_BUSY_TIMEOUT} if url.startswith("sqlite") else {}
        engine = sa.create_engine(url, connect_args=connect_args)
        return cls(engine, where=_without_password(url), owns_engine=True)

    def _create(self, metadata: Any) -> None:
        """Create the table unless it exists; another process creating it at the same moment is fine."""
        sa = self._sa
        for attempt in range(8):
            try:
                metadata.create_all(self.engine, checkfirst=True)
                return
            except sa.exc.DBAPIError:
                if sa.inspect(self.engine).has_table(self.table.name):
                    return
                if attempt == 7:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _insert_absent(self, connection: Any, scope: str, name: str, value: float) -> None:
        sa = self._sa
        row = {"scope": scope, "name": name, "value": value}
        dialect = self.engine.dialect.name
        if dialect in ("postgresql", "sqlite"):
            module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
            connection.execute(module.insert(self.table).values(row).on_conflict_do_nothing())
        elif dialect in ("mysql", "mariadb"):
            connection.execute(sa.insert(self.table).values(row).prefix_with("IGNORE"))
        else:  # any other database: the duplicate is refused, which is what "if absent" means
            try:
                with connection.begin_nested():
                    connection.execute(sa.insert(self.table).values(row))
            except sa.exc.IntegrityError:
                pass

    def _where(self, scope: str, name: str) -> Any:
        return (self.table.c.scope == scope) & (self.table.c.name == name)

    def add(self, scope: str, amounts: Mapping[str, float]) -> None:
        """One ``UPDATE ... SET value = value + :amount`` per counter (a missing one inserted), one transaction."""
        sa = self._sa
        with self.engine.begin() as connection:
            for name, amount in amounts.items():
                update = sa.update(self.table).where(self._where(scope, name))
                if connection.execute(update.values(value=self.table.c.value + amount)).rowcount == 0:
                    self._insert_absent(connection, scope, name, 0.0)
                    connection.execute(update.values(value=self.table.c.value + amount))

    def add_at_most(self, scope: str, name: str, amount: float, limit: float) -> bool:
        """One conditional ``UPDATE``: the row lock makes check and add one step."""
        sa = self._sa
        column = self.table.c.value
        update = (
            sa.update(self.table)
            .where(self._where(scope, name) & (column + amount <= limit))
            .values(value=column + amount)
        )
        with self.engine.begin() as connection:
            if connection.execute(update).rowcount == 1:
                return True
            exists = connection.execute(sa.select(column).where(self._where(scope, name))).first()
            if exists is not None:
                return False
            self._insert_absent(connection, scope, name, 0.0)
            return bool(connection.execute(update).rowcount == 1)

    def initialize(self, scope: str, name: str, value: float) -> None:
        """An insert that yields to an existing row (``ON CONFLICT DO NOTHING`` or the dialect's own)."""
        with self.engine.begin() as connection:
            self._insert_absent(connection, scope, name, value)

    def values(self, scope: str) -> dict[str, float]:
        """One ``SELECT`` of the scope's rows."""
        sa = self._sa
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(self.table.c.name, self.table.c.value).where(self.table.c.scope == scope)
            ).all()
        return {name: float(value) for name, value in rows}

    def reserve(self, scope: str, name: str, cost: float, now: float) -> float:
        """One ``UPDATE ... RETURNING`` (or a locked read and an update where the database has no RETURNING)."""
        sa = self._sa
        column = self.table.c.value
        moved = sa.case((column > now, column), else_=now) + cost
        update = sa.update(self.table).where(self._where(scope, name)).values(value=moved)
        with self.engine.begin() as connection:
            self._insert_absent(connection, scope, name, now)
            if self.engine.dialect.update_returning:
                return float(connection.execute(update.returning(column)).scalar_one())
            connection.execute(sa.select(column).where(self._where(scope, name)).with_for_update())
            connection.execute(update)
            return float(connection.execute(sa.select(column).where(self._where(scope, name))).scalar_one())

    def delete(self, scope: str) -> None:
        """One ``DELETE`` of the scope's rows."""
        sa = self._sa
        with self.engine.begin() as connection:
            connection.execute(sa.delete(self.table).where(self.table.c.scope == scope))

    def close(self) -> None:
        """Dispose of the engine when it is this state's own (a storage's engine stays open)."""
        if self._owns_engine:
            self.engine.dispose()


_ADD_AT_MOST = """
local value = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if value + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HINCRBYFLOAT', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

_RESERVE = """
local value = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[2])
local now = tonumber(ARGV[2])
if value < now then value = now end
value = value + tonumber(ARGV[3])
local text = string.format('%.6f', value)
redis.call('HSET', KEYS[1], ARGV[1], text)
return text
"""


class RedisState(SharedState):
    """Counters in Redis: one hash per scope (``stacktune:<scope>``), conditional updates as Lua scripts."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ModuleNotFoundError:
            raise StacktuneError(
                f"shared state {_without_password(url)!r} needs the Redis client: pip install 'stacktune[redis]'"
            ) from None
        self.where = _without_password(url)
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self._add_at_most = self.client.register_script(_ADD_AT_MOST)
        self._reserve = self.client.register_script(_RESERVE)

    @staticmethod
    def _key(scope: str) -> str:
        return f"stacktune:{scope}"

    def add(self, scope: str, amounts: Mapping[str, float]) -> None:
        """``HINCRBYFLOAT`` per counter, in one pipeline."""
        with self.client.pipeline() as pipeline:
            for name, amount in amounts.items():
                pipeline.hincrbyfloat(self._key(scope), name, amount)
            pipeline.execute()

    def add_at_most(self, scope: str, name: str, amount: float, limit: float) -> bool:
        """A Lua script: Redis runs it as one step."""
        return bool(self._add_at_most(keys=[self._key(scope)], args=[name, amount, limit]))

    def initialize(self, scope: str, name: str, value: float) -> None:
        """``HSETNX``."""
        self.client.hsetnx(self._key(scope), name, str(value))

    def values(self, scope: str) -> dict[str, float]:
        """``HGETALL`` of the scope's hash."""
        raw: dict[str, str] = self.client.hgetall(self._key(scope))  # type: ignore[assignment]
        return {name: float(value) for name, value in raw.items()}

    def reserve(self, scope: str, name: str, cost: float, now: float) -> float:
        """A Lua script: Redis runs it as one step."""
        return float(self._reserve(keys=[self._key(scope)], args=[name, f"{now:.6f}", cost]))  # type: ignore[arg-type]

    def delete(self, scope: str) -> None:
        """Delete the scope's hash."""
        self.client.delete(self._key(scope))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _without_password(url: str) -> str:
    """A URL fit for messages: ``user:secret@host`` becomes ``user:***@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


_PROCESS_STATES: weakref.WeakKeyDictionary[object, SharedState] = weakref.WeakKeyDictionary()
_BY_URL: dict[str, SharedState] = {}
_LOCK = threading.Lock()
_PROCESS = MemoryState()


_CURRENT: contextvars.ContextVar[SharedState | None] = contextvars.ContextVar("stacktune_shared_state", default=None)


def current_state() -> SharedState:
    """The shared state of the study running in this context, else this process's own.

    A study's trials run inside :func:`using` its state, so a rate limiter called from a trial
    paces every worker of the study; called from anywhere else it paces this process.
    """
    return _CURRENT.get() or _PROCESS


@contextmanager
def using(state: SharedState) -> Iterator[SharedState]:
    """Make ``state`` the current one in this context (and the worker threads that copy it)."""
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)


def open_shared_state(url: str) -> SharedState:
    """The shared state at a URL: ``redis://...`` or any SQLAlchemy database URL (one per URL and process)."""
    with _LOCK:
        state = _BY_URL.get(url)
        if state is None:
            state = RedisState(url) if url.startswith(("redis://", "rediss://", "unix://")) else SqlState.from_url(url)
            _BY_URL[url] = state
        return state


def close_shared_states() -> None:
    """Close the states opened by URL in this process (their connections); the next use opens them again."""
    with _LOCK:
        states = list(_BY_URL.values())
        _BY_URL.clear()
    for state in states:
        state.close()


def shared_state_for(storage: optuna.storages.BaseStorage, configured: str | None = None) -> SharedState:
    """Where the processes of studies in ``storage`` share their counters (see the module docstring).

    ``configured`` (or the environment variable ``STACKTUNE_SHARED_STATE``) wins: a Redis or
    database URL. Otherwise it follows the storage; a storage stacktune cannot see into (Optuna's
    gRPC proxy, a custom one) gets this process's memory, and a warning says what it means.
    """
    configured = configured or os.environ.get(SHARED_STATE_ENV) or None
    if configured:
        return open_shared_state(configured)
    # Optuna wraps RDB storages in a cache of its own: the database is behind it
    backend = getattr(storage, "_backend", storage) if type(storage).__name__ == "_CachedStorage" else storage
    with _LOCK:
        state = _PROCESS_STATES.get(backend)
        if state is not None:
            return state
        state = _state_beside(backend)
        _PROCESS_STATES[backend] = state
        return state


def _state_beside(backend: object) -> SharedState:
    if isinstance(backend, optuna.storages.RDBStorage):
        return SqlState(backend.engine, where=_without_password(backend.url))
    if isinstance(backend, optuna.storages.JournalStorage):
        path = getattr(getattr(backend, "_backend", None), "_file_path", None)
        if isinstance(path, str):
            return SqlState.from_url(f"sqlite:///{path}.stacktune.db")
    if not isinstance(backend, optuna.storages.InMemoryStorage):
        logger.warning(
            "stacktune cannot keep shared counters in a %s: budgets, trial totals and rate limits count this "
            "process only; give shared_state='redis://...' (or %s) to share them across processes",
            type(backend).__name__,
            SHARED_STATE_ENV,
        )
    return MemoryState()


__all__ = [
    "SHARED_STATE_ENV",
    "MemoryState",
    "RedisState",
    "SharedState",
    "SqlState",
    "close_shared_states",
    "current_state",
    "open_shared_state",
    "shared_state_for",
    "using",
]
