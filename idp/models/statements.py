"""Fixed statements run straight on a DBAPI cursor (the token endpoint's hot path).

The token endpoint runs a handful of small statements per request (token INSERT, refresh
rotation, audit append), and SQLAlchemy's execution layer (execution context, compiled-cache
lookup, events, result wrapping) costs more CPU than the database spends running them. A
``DriverStatement`` is compiled by SQLAlchemy once per dialect, so the SQL text, the driver's
paramstyle (sqlite3 qmark, psycopg pyformat), PostgreSQL's bind casts and JSON (de)serialisation
stay SQLAlchemy's own; it then runs on the DBAPI connection of the request's transaction: the
``db.session`` one, so it commits or rolls back with everything else, or, once the grant has
claimed the request's ``DriverTransaction``, a pool connection of its own that skips the
Session's unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.dml import Insert, ReturningUpdate
from sqlalchemy.sql.selectable import Select

from idp.extensions import db

Statement = Select | Insert | ReturningUpdate


def strict_insert(table: Table, columns: Iterable[str]) -> Insert:
    """INSERT of exactly ``columns``: every value must be given, no default is filled in."""
    return table.insert().inline().values({name: bindparam(name) for name in columns})


@dataclass(frozen=True)
class _Compiled:
    """One statement compiled for one dialect, with its parameter and result conversions."""

    sql: str
    order: tuple[str, ...] | None  # parameter order for a positional paramstyle
    literals: dict[str, Any]  # values bound in the statement itself, e.g. LIMIT 1
    binders: tuple[tuple[str, Callable], ...]
    loaders: tuple[Callable | None, ...]

    @classmethod
    def of(cls, statement: Statement, dialect: Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        binds = [(key, b) for b, key in compiled.bind_names.items()]  # by their name in the SQL
        processors = ((k, b.type.dialect_impl(dialect).bind_processor(dialect)) for k, b in binds)
        columns = statement.exported_columns
        return cls(
            sql=compiled.string,
            order=tuple(compiled.positiontup) if compiled.positional else None,
            literals={key: b.value for key, b in binds if not b.required},
            binders=tuple((key, fn) for key, fn in processors if fn is not None),
            loaders=tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ),
        )

    def parameters(self, values: Mapping[str, Any]) -> dict | tuple:
        merged = {**self.literals, **values}
        for key, process in self.binders:
            merged[key] = process(merged[key])
        return merged if self.order is None else tuple(merged[key] for key in self.order)

    def load(self, row: tuple) -> tuple:
        return tuple(v if fn is None else fn(v) for fn, v in zip(self.loaders, row, strict=True))


class DriverStatement:
    """A Core statement executed straight on the DBAPI cursor of ``db.session``'s connection."""

    def __init__(self, statement: Statement) -> None:
        self._statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, **values: Any) -> None:
        """Run a statement that returns no rows."""
        self._run(values)[1].close()

    def first(self, **values: Any) -> tuple | None:
        """Run the statement and return its first row, converted as SQLAlchemy would."""
        compiled, cursor = self._run(values)
        row = cursor.fetchone()
        cursor.close()
        return compiled.load(row) if row is not None else None

    def _run(self, values: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        dialect, driver = _transaction_connection()
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled.of(self._statement, dialect)
        cursor = driver.cursor()
        cursor.execute(compiled.sql, compiled.parameters(values))
        return compiled, cursor


def begin(dialect: Dialect, driver: Any) -> None:
    """Begin a transaction on a DBAPI connection, as every transaction here begins: SQLite
    takes the write lock at BEGIN (IMMEDIATE), so two workers consuming the same code serialise
    instead of failing on a stale read snapshot; PostgreSQL's driver begins implicitly."""
    if dialect.name == "sqlite":
        driver.execute("BEGIN IMMEDIATE")


class DriverTransaction:
    """A transaction on a pool connection of its own, begun at its first statement.

    The Session's unit of work (transaction objects, pool bookkeeping, events) costs more CPU
    than the few statements of a client-credentials or refresh grant; those grants run every
    statement here and never touch ``db.session``. A token request opens one
    (``driver_transaction``), but statements use it only once the grant that Authlib chose has
    claimed it (``claim_driver_transaction``): the grant decides, not a guess from the request.
    SQLite allows one writer at a time, so this and ``db.session`` must not hold transactions at
    once: ``leave_driver_transaction`` hands over.
    """

    def __init__(self) -> None:
        self._pooled = None
        self.claimed = False
        self._committed = False
        self.committed_callbacks: list[Callable[[], None]] = []

    def connection(self) -> tuple[Dialect, Any]:
        """The dialect and DBAPI connection, beginning the transaction on first use."""
        if self._committed:  # a write now would begin a transaction nothing commits
            raise RuntimeError("this request's driver transaction has already committed")
        if self._pooled is None:
            self._pooled = db.engine.raw_connection()
            begin(db.engine.dialect, self._pooled.dbapi_connection)
        return db.engine.dialect, self._pooled.dbapi_connection

    def end(self, commit: bool) -> None:
        """Commit or roll back, and give the connection back to the pool."""
        self._committed = self._committed or commit
        pooled, self._pooled = self._pooled, None
        callbacks, self.committed_callbacks = self.committed_callbacks, []
        if pooled is None:
            return
        try:
            if commit:
                pooled.dbapi_connection.commit()
            else:
                pooled.dbapi_connection.rollback()
        finally:
            pooled.close()
        if commit:
            _run(callbacks)


_current: ContextVar[DriverTransaction | None] = ContextVar("idp.driver_transaction", default=None)


@contextmanager
def driver_transaction() -> Iterator[DriverTransaction]:
    """A block (a token request) whose grant may claim a ``DriverTransaction`` for its
    ``DriverStatement``s; the grant commits it (``commit_driver_transaction``), anything left
    open (an exception included) is rolled back at the end of the block."""
    transaction = DriverTransaction()
    token = _current.set(transaction)
    try:
        yield transaction
    finally:
        _current.reset(token)
        transaction.end(commit=False)


def claim_driver_transaction() -> None:
    """Run the rest of this request's statements in its ``DriverTransaction``.

    Called by the extension of a grant (``tokens.SignAfterCommit``) when Authlib creates that
    grant for the request, so the transaction always matches the grant that runs.
    """
    transaction = _current.get()
    if transaction is None:
        raise RuntimeError("a grant that signs after its commit runs inside driver_transaction()")
    transaction.claimed = True


def driver_transaction_claimed() -> bool:
    """Whether this request's statements run in a claimed ``DriverTransaction``."""
    transaction = _current.get()
    return transaction is not None and transaction.claimed


def commit_driver_transaction() -> None:
    """Commit the current ``DriverTransaction`` now, before the response is built: a grant
    that signs its token after its writes (``tokens.SignAfterCommit``) calls this first."""
    transaction = _current.get()
    if transaction is not None:
        transaction.end(commit=True)


def leave_driver_transaction() -> None:
    """Roll back the current ``DriverTransaction`` (if any) so ``db.session`` can take over:
    an error path that needs the ORM (replay detection, say) calls this first."""
    transaction = _current.get()
    if transaction is not None:
        _current.set(None)
        transaction.end(commit=False)


# --- after the commit ------------------------------------------------------------------------

_AFTER_COMMIT = "idp.after_commit"  # Session.info key: callbacks for its transaction's commit


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction ``DriverStatement``s now run in has committed, and
    never if it rolls back: for what must not tell of a write before it is durable (an audit
    event streamed to a SIEM). The callback must not touch the database. A rolled-back
    savepoint (``begin_nested``) keeps the callbacks registered inside it: none is, today."""
    transaction = _current.get()
    if transaction is not None and transaction.claimed:
        transaction.committed_callbacks.append(callback)
    else:
        db.session().info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    _run(session.info.pop(_AFTER_COMMIT, []))


@event.listens_for(Session, "after_transaction_end")
def _session_transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    """Rolled back (or closed without a commit): its callbacks are dropped. A commit ran them
    already (SQLAlchemy ends the transaction after ``after_commit``)."""
    if transaction.parent is None:
        session.info.pop(_AFTER_COMMIT, None)


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


def _transaction_connection() -> tuple[Dialect, Any]:
    """The dialect and DBAPI connection of the request's transaction, begun if need be."""
    transaction = _current.get()
    if transaction is not None and transaction.claimed:
        return transaction.connection()
    connection = db.session.connection()  # joins, or begins, the session's transaction
    return connection.dialect, connection.connection.dbapi_connection


def transaction_dialect() -> Dialect:
    """The dialect of the request's transaction (begun if need be, as a statement would)."""
    return _transaction_connection()[0]
