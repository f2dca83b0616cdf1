"""CSV exports of analyses and ads: every insight field, the transcript, streamed row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

from pydantic import BaseModel

from adanalysis.ads.card import AdInsights
from adanalysis.ads.models import AdAnalysis
from adanalysis.ads.service import AdRow, AnalysisRow, Performance, ad_performance

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PERFORMANCE_COLUMNS = (
    "spend",
    "currency",
    "impressions",
    "clicks",
    "ctr",
    "video_3s_plays",
    "thruplays",
    "hook_rate",
    "hold_rate",
    "date_start",
    "date_stop",
)
ANALYSIS_COLUMNS = (
    "analysis_id",
    "account_id",
    "video_id",
    "ad_ids",
    "ad_names",
    "title",
    "duration_seconds",
    "language",
    "job_id",
    "analysed_at",
    "transcriber",
    "analyzer",
)
AD_COLUMNS = ("ad_id", "ad_name", "status", "account_id", "video_ids", "period")


def safe_cell(value: Any) -> Any:
    """A value a spreadsheet shows as text: numbers pass, formula-like strings get a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _insight_columns(model: type[BaseModel] = AdInsights, prefix: str = "") -> Iterator[str]:
    """Every field of the insights, nested models flattened as parent.child."""
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _insight_columns(kind, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


INSIGHT_COLUMNS = tuple(_insight_columns())


def _insight_value(insights: dict[str, Any], column: str) -> Any:
    value: Any = insights
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return " | ".join(_list_item(v) for v in value)
    return value


def _list_item(item: Any) -> str:
    if isinstance(item, dict) and "quote" in item:  # evidence
        at = item.get("timestamp_seconds")
        return f"{item['quote']} ({at:.1f} s)" if isinstance(at, int | float) else item["quote"]
    return str(item)


def _performance_values(performance: Performance | None) -> list[Any]:
    if performance is None:
        return [None] * len(PERFORMANCE_COLUMNS)
    return [getattr(performance, column) for column in PERFORMANCE_COLUMNS]


def _analysis_values(a: AdAnalysis | None) -> list[Any]:
    if a is None:
        return [None] * (len(ANALYSIS_COLUMNS) + len(INSIGHT_COLUMNS) + 1)
    base = [
        a.id,
        a.account_id,
        a.video_id,
        " | ".join(a.ad_ids),
        " | ".join(a.ad_names),
        a.title,
        a.duration_seconds,
        a.language,
        a.job_id,
        a.created_at.isoformat(),
        a.transcriber,
        a.analyzer,
    ]
    insights = a.insights or {}
    return [*base, *(_insight_value(insights, c) for c in INSIGHT_COLUMNS), a.transcript]


def analyses_header() -> list[str]:
    """The columns of an analyses export."""
    return [*ANALYSIS_COLUMNS, *INSIGHT_COLUMNS, "transcript", *PERFORMANCE_COLUMNS]


def analysis_record(row: AnalysisRow) -> list[Any]:
    """One analysis as a CSV row."""
    return [*_analysis_values(row.analysis), *_performance_values(row.performance)]


def ads_header() -> list[str]:
    """The columns of an ads export."""
    return [*AD_COLUMNS, *PERFORMANCE_COLUMNS, *ANALYSIS_COLUMNS, *INSIGHT_COLUMNS, "transcript"]


def ad_record(row: AdRow) -> list[Any]:
    """One ad as a CSV row."""
    ad = row.ad
    base = [
        ad.ad_id,
        ad.ad_name,
        ad.effective_status,
        ad.account_id,
        " | ".join(ad.video_ids),
        ad.period,
    ]
    return [*base, *_performance_values(ad_performance(ad)), *_analysis_values(row.analysis)]


async def stream_csv(header: list[str], records: AsyncIterator[list[Any]]) -> AsyncIterator[str]:
    """The CSV text, a line at a time, every cell guarded against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: list[Any]) -> str:
        writer.writerow([safe_cell(v) for v in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    # A byte order mark so spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + line(header)
    async for record in records:
        yield line(record)
