"""Keyset paging, newest first, by (created_at, id): stable while new rows arrive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from fastapi import Response
from sqlalchemy import ColumnElement

NEXT_CURSOR_HEADER = "X-Next-Before"


class _Row(Protocol):
    id: Any
    created_at: Any


RowT = TypeVar("RowT", bound=_Row)


def older_than(model: Any, anchor: _Row) -> ColumnElement[bool]:
    """Rows that come after anchor in newest-first order."""
    return (model.created_at < anchor.created_at) | (
        (model.created_at == anchor.created_at) & (model.id < anchor.id)
    )


def newest_first(model: Any) -> tuple[Any, Any]:
    """The ORDER BY of a newest-first page."""
    return model.created_at.desc(), model.id.desc()


def one_page(rows: Sequence[RowT], limit: int, response: Response) -> list[RowT]:
    """Trim rows fetched with limit + 1 to a page; name the next page's cursor in a header."""
    if len(rows) <= limit:
        return list(rows)
    page = list(rows[:limit])
    response.headers[NEXT_CURSOR_HEADER] = str(page[-1].id)
    return page
