"""The time arithmetic of a batch run, as local/etl/window.ts states it for the twin: the event-hour
window a run rebuilds, the context around it, which Hive partitions of each source it reads, and
how newly ingested data chooses the window. Standard library only, so it runs (and is tested)
without Spark.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence
from urllib.parse import unquote

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WINDOW_ANCHORS = ("window_start", "window_end", "context_start", "context_end")


@dataclass(frozen=True)
class EtlWindow:
    """Hours [start_ms, end_ms), both whole UTC hours, epoch milliseconds."""

    start_ms: int
    end_ms: int

    def label(self) -> str:
        return f"{iso_instant(self.start_ms)} .. {iso_instant(self.end_ms)}"


@dataclass(frozen=True)
class WindowHour:
    hour_start_ms: int
    hour_index: int
    event_date: str
    event_hour: str
    day_start_ms: int


def iso_instant(ms: int) -> str:
    """2026-11-27T10:00:00Z"""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def iso_hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H")


def day_start(ms: int) -> int:
    return ms - (ms % DAY_MS)


def window_instants(window: EtlWindow, baseline_days: int) -> Dict[str, int]:
    """The window and its context: from the start of the day `baseline_days - 1` days before the
    window's first day to the end of the window's last day."""
    return {
        "window_start": window.start_ms,
        "window_end": window.end_ms,
        "context_start": day_start(window.start_ms) - (baseline_days - 1) * DAY_MS,
        "context_end": day_start(window.end_ms - 1) + DAY_MS,
    }


def window_hours(window: EtlWindow) -> List[WindowHour]:
    return [
        WindowHour(ms, ms // HOUR_MS, iso_date(ms), iso_hour(ms), day_start(ms))
        for ms in range(window.start_ms, window.end_ms, HOUR_MS)
    ]


def window_days(window: EtlWindow) -> List[str]:
    days: List[str] = []
    for hour in window_hours(window):
        if hour.event_date not in days:
            days.append(hour.event_date)
    return days


def hive_partitions(key: str) -> Dict[str, str]:
    """Hive partition values in an object key: `a=1/b=2/file` -> {"a": "1", "b": "2"}."""
    values: Dict[str, str] = {}
    for segment in key.split("/")[:-1]:
        at = segment.find("=")
        if at > 0:
            values[segment[:at]] = unquote(segment[at + 1 :])
    return values


def _parse_date_ms(date: str) -> Optional[int]:
    try:
        parsed = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000)


def selects_key(selection: dict, instants: Dict[str, int], key: str) -> bool:
    """Whether a run reads the partition at `key`: its period (its day, or its hour when the
    selection names an hour column) overlaps the selection's range and, with `excludeWindow`, lies
    outside the run's window. A key without the partition values is not read."""
    values = hive_partitions(key)
    date = values.get(selection["date"])
    if date is None or not re.match(r"^\d{4}-\d{2}-\d{2}$", date):
        return False
    period_start = _parse_date_ms(date)
    if period_start is None:
        return False
    period_ms = DAY_MS
    hour_column = selection.get("hour")
    if hour_column is not None:
        text = values.get(hour_column, "")
        if not text.isdigit() or int(text) > 23:
            return False
        period_start += int(text) * HOUR_MS
        period_ms = HOUR_MS
    period_end = period_start + period_ms
    start = instants[selection["from"]] + selection["fromOffsetHours"] * HOUR_MS
    end = instants[selection["to"]] + selection["toOffsetHours"] * HOUR_MS
    if period_start >= end or period_end <= start:
        return False
    inside = period_start >= instants["window_start"] and period_end <= instants["window_end"]
    return not (selection.get("excludeWindow", False) and inside)


def planned_window(ingest: EtlWindow, touched_hour_starts_ms: Sequence[int]) -> EtlWindow:
    """From the earliest event hour the new readings touch (late data) to the later of the ingest
    window's end and the hour after the latest event hour (clocks running ahead)."""
    start, end = ingest.start_ms, ingest.end_ms
    for ms in touched_hour_starts_ms:
        start = min(start, ms)
        end = max(end, ms + HOUR_MS)
    return EtlWindow(start, end)


def owned_paths(output: dict, window: EtlWindow) -> List[str]:
    """The partition paths (relative to the table prefix) a run owns for an output's scope."""
    partition_by = output["partitionBy"]
    date_column = partition_by[0]
    if output["scope"] == "hour":
        if len(partition_by) < 2:
            raise ValueError(
                f"output {output['prefix']}: scope 'hour' needs partitionBy to start with a date and an hour column"
            )
        hour_column = partition_by[1]
        return [f"{date_column}={h.event_date}/{hour_column}={h.event_hour}/" for h in window_hours(window)]
    return [f"{date_column}={day}/" for day in window_days(window)]


def run_id(window: EtlWindow) -> str:
    """A name for the run's staging prefix: the same window stages to the same place on a rerun."""
    return hashlib.sha256(f"{window.start_ms}/{window.end_ms}".encode()).hexdigest()[:16]
