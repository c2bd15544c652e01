"""The Glue job's arguments: read from the command line Glue builds (`--name value`), validated
one by one, each error naming the argument, the value received and what is expected. The names
are the infrastructure's (lib/batch/etl-job.ts, ETL_JOB_ARGUMENTS). Standard library only.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, Sequence

from etl_window import HOUR_MS, EtlWindow

WINDOW_KINDS = ("ingest", "event")
SUMMARY_PREFIX = "etl-runs/"

_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_ZIP = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(\S+\.zip)$")
_DATABASE = re.compile(r"^[a-z0-9_]{1,255}$")
_SUMMARY_KEY = re.compile(r"^etl-runs/\S+\.json$")


class ArgumentError(ValueError):
    """A job argument that cannot be used; the message names it."""


@dataclass(frozen=True)
class EtlArgs:
    job_name: str
    raw_bucket: str
    quarantine_bucket: str
    curated_bucket: str
    sql_bucket: str
    sql_key: str
    database_name: str
    window: EtlWindow
    window_kind: str
    summary_key: str


def read_options(argv: Sequence[str]) -> Dict[str, str]:
    """`--name value` and `--name=value` pairs of a command line; a later value wins."""
    options: Dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if token.startswith("--"):
            if "=" in token:
                name, value = token[2:].split("=", 1)
                options[name] = value
            elif index + 1 < len(argv) and not argv[index + 1].startswith("--"):
                options[token[2:]] = argv[index + 1]
                index += 1
            else:
                options[token[2:]] = ""
        index += 1
    return options


def _required(options: Dict[str, str], name: str, expected: str) -> str:
    value = options.get(name)
    if value is None or value == "":
        raise ArgumentError(f"--{name}: received {'nothing' if value is None else repr(value)}, expected {expected}")
    return value


def _matching(options: Dict[str, str], name: str, pattern: "re.Pattern[str]", expected: str) -> str:
    value = _required(options, name, expected)
    if not pattern.match(value):
        raise ArgumentError(f"--{name}: received {value!r}, expected {expected}")
    return value


def _hour_ms(options: Dict[str, str], name: str) -> int:
    expected = "a whole UTC hour such as 2026-11-27T10:00:00Z"
    value = _matching(options, name, _HOUR, expected)
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ArgumentError(f"--{name}: received {value!r}, expected {expected} (a date in the calendar)") from None
    return int(parsed.timestamp() * 1000)


def parse_args(argv: Sequence[str]) -> EtlArgs:
    """Reads and validates every argument the job needs. @raises ArgumentError"""
    options = read_options(argv)
    bucket = "an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
    start_ms = _hour_ms(options, "window_start")
    end_ms = _hour_ms(options, "window_end")
    if end_ms <= start_ms:
        raise ArgumentError(
            f"--window_end: received {options['window_end']!r}, expected a later hour than --window_start ({options['window_start']})"
        )
    if (end_ms - start_ms) % HOUR_MS != 0:
        raise ArgumentError(f"--window_end: received {options['window_end']!r}, expected whole hours after --window_start")
    kind = _required(options, "window_kind", f"one of {', '.join(WINDOW_KINDS)}")
    if kind not in WINDOW_KINDS:
        raise ArgumentError(f"--window_kind: received {kind!r}, expected one of {', '.join(WINDOW_KINDS)}")
    sql_expected = "the S3 URL of the SQL archive, s3://<bucket>/<key>.zip"
    sql_match = _S3_ZIP.match(_matching(options, "sql_location", _S3_ZIP, sql_expected))
    if sql_match is None:  # _matching has checked it; this keeps the type checker and readers sure
        raise ArgumentError(f"--sql_location: expected {sql_expected}")
    summary_key = _matching(
        options, "summary_key", _SUMMARY_KEY, f"a key under {SUMMARY_PREFIX} ending in .json, e.g. etl-runs/2026-11-27T10/run.json"
    )
    if ".." in summary_key.split("/"):
        raise ArgumentError(f"--summary_key: received {summary_key!r}, expected a key without '..' segments")
    return EtlArgs(
        job_name=_required(options, "JOB_NAME", "the Glue job's name (Glue sets it)"),
        raw_bucket=_matching(options, "raw_bucket", _BUCKET, bucket),
        quarantine_bucket=_matching(options, "quarantine_bucket", _BUCKET, bucket),
        curated_bucket=_matching(options, "curated_bucket", _BUCKET, bucket),
        sql_bucket=sql_match.group(1),
        sql_key=sql_match.group(2),
        database_name=_matching(options, "database_name", _DATABASE, "a Glue database name (lowercase letters, digits, _)"),
        window=EtlWindow(start_ms, end_ms),
        window_kind=kind,
        summary_key=summary_key,
    )

