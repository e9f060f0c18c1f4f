"""Index definitions shared by the models."""

from __future__ import annotations

from sqlalchemy import Index, text


def partial_index(name: str, column: str, unique: bool = False) -> Index:
    """An index of ``column``'s non-NULL values, for a column only ever looked up by a value:
    a row whose value is NULL then writes no page to it (SQLite and PostgreSQL index NULLs)."""
    where = text(f"{column} IS NOT NULL")
    return Index(name, column, unique=unique, sqlite_where=where, postgresql_where=where)
