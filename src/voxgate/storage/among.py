"""``column IN (values)`` for any number of values.

An ``IN`` list is one bound parameter per value, and a statement may have at most 32,766 of
them on SQLite and 32,767 through asyncpg: a group administrator's scope of that many
extensions (or half as many, for call records, which test caller and callee) would fail the
query.  :func:`among` lists up to :data:`MAX_LISTED` values as parameters and sends more as one
JSON array that the database unpacks (SQLite ``json_each``, PostgreSQL
``jsonb_array_elements_text``): one parameter whatever the number of values.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Final

from sqlalchemy import String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Boolean

#: Values listed as parameters of their own; more go as one JSON array.
MAX_LISTED: Final = 1000


class _AmongJson(ColumnElement[bool]):
    """``column IN`` the elements of a JSON array of strings (one bound parameter)."""

    inherit_cache = False  # its values are a bound parameter; not worth a cache key of its own
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], values: list[str]) -> None:
        self.column = column
        self.values = bindparam(None, json.dumps(values), type_=String())


def among(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[str]
) -> ColumnElement[bool]:
    """``column IN values``, for any number of ``values`` (strings)."""
    ordered = sorted(values)
    if len(ordered) <= MAX_LISTED:
        return column.in_(ordered)
    return _AmongJson(column.expression if isinstance(column, QueryableAttribute) else column,
                      ordered)  # fmt: skip


@compiles(_AmongJson)
def _json_each(element: _AmongJson, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)  # a placeholder: the values are bound
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608 (no value inlined)


@compiles(_AmongJson, "postgresql")
def _jsonb_elements(element: _AmongJson, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    return f"{column} IN (SELECT jsonb_array_elements_text(CAST({values} AS JSONB)))"
