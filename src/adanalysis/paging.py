"""Keyset paging, newest first, by (created_at, id): stable while new rows arrive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from fastapi import Response
from sqlalchemy import ColumnElement, literal, tuple_

NEXT_CURSOR_HEADER = "X-Next-Before"


class _Row(Protocol):
    id: Any
    created_at: Any


T = TypeVar("T")


def older_than(model: Any, anchor: _Row) -> ColumnElement[bool]:
    """Rows that come after anchor in newest-first order."""
    # A row comparison: one index range on (..., created_at, id), where the equivalent OR
    # filtered every row of the user's after the first page.
    return tuple_(model.created_at, model.id) < tuple_(
        literal(anchor.created_at, model.created_at.type), literal(anchor.id, model.id.type)
    )


def newest_first(model: Any) -> tuple[Any, Any]:
    """The ORDER BY of a newest-first page."""
    return model.created_at.desc(), model.id.desc()


def split_page(
    rows: Sequence[T], limit: int, cursor: Callable[[T], Any] | None = None
) -> tuple[list[T], str | None]:
    """Rows fetched with limit + 1, trimmed to a page, and the next page's cursor (or None).

    The cursor is the last row's id, or what `cursor` takes from it.
    """
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    last = page[-1]
    return page, str(cursor(last) if cursor else last.id)  # type: ignore[attr-defined]


def one_page(
    rows: Sequence[T], limit: int, response: Response, cursor: Callable[[T], Any] | None = None
) -> list[T]:
    """split_page, with the next page's cursor named in the response's header."""
    page, next_cursor = split_page(rows, limit, cursor)
    if next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return page


def after_in_order(
    value: Any, row_id: Any, anchor_value: Any, anchor_id: Any, *, descending: bool
) -> ColumnElement[bool]:
    """Rows after the anchor in ORDER BY value NULLS LAST, id: keyset paging on any column."""
    if anchor_value is None:  # the anchor is among the trailing nulls
        return value.is_(None) & ((row_id < anchor_id) if descending else (row_id > anchor_id))
    beyond = (value < anchor_value) if descending else (value > anchor_value)
    same = (value == anchor_value) & ((row_id < anchor_id) if descending else (row_id > anchor_id))
    return beyond | same | value.is_(None)


def in_order(value: Any, row_id: Any, *, descending: bool) -> tuple[Any, Any]:
    """The ORDER BY matching after_in_order."""
    if descending:
        return value.desc().nulls_last(), row_id.desc()
    return value.asc().nulls_last(), row_id.asc()
