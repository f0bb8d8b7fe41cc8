"""Many rows in one statement: `INSERT … SELECT * FROM unnest(:col1, :col2, …)`, one array per column.

An executemany runs the statement once per row on the server and binds every row's values one by one on the
client; a batch of events writes hundreds of rows per table, and that would be most of its time. Here PostgreSQL
runs one statement, asyncpg encodes each column as one array, and the statement text never changes (SQLAlchemy
compiles it once, asyncpg prepares it once). Rows must not repeat a conflict key (ON CONFLICT DO UPDATE
cannot touch a row twice in one statement): callers key their rows by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, Table, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.types import TypeEngine


def bulk_insert(table: Table, columns: Sequence[str]) -> Insert:
    """`INSERT INTO table (columns) SELECT … FROM unnest(…)`; run it with :func:`as_columns` of the rows."""
    types = [_array_item(table.c[name].type) for name in columns]
    rows = (
        func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in zip(columns, types, strict=True)))
        .table_valued(*(column(name, kind) for name, kind in zip(columns, types, strict=True)))
        .render_derived(name="batch")
    )
    return insert(table).from_select(list(columns), select(*(rows.c[name] for name in columns)))


def _array_item(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    # An explicit cast to varchar(n) truncates silently; the column's own assignment cast refuses a value too
    # long, as a one-row INSERT (bound as plain VARCHAR) does.
    return String() if isinstance(kind, String) else kind


def bulk_upsert(table: Table, columns: Sequence[str], keys: Sequence[str], updated: Sequence[str]) -> Insert:
    """:func:`bulk_insert` that sets `updated` from the new row where a row with the same `keys` exists."""
    statement = bulk_insert(table, columns)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in updated}
    )


def as_columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of a bulk statement: one list per column, in row order."""
    return {name: [row[name] for row in rows] for name in columns}
