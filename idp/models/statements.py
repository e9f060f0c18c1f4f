"""Fixed statements run on the DBAPI cursor of the session's transaction (the token hot path).

The token endpoint runs a handful of small statements per request (token INSERT, refresh
rotation, audit append), and SQLAlchemy's execution layer (execution context, compiled-cache
lookup, events, result wrapping) costs more CPU than the database spends running them. A
``DriverStatement`` is compiled by SQLAlchemy once per dialect, so the SQL text, the driver's
paramstyle (sqlite3 qmark, psycopg pyformat), PostgreSQL's bind casts and JSON (de)serialisation
stay SQLAlchemy's own; it then runs on the DBAPI connection ``db.session`` holds, so it commits
or rolls back with everything else in the request's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import Dialect
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
        connection = db.session.connection()  # joins, or begins, the request's transaction
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled.of(self._statement, dialect)
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute(compiled.sql, compiled.parameters(values))
        return compiled, cursor
