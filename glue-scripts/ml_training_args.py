"""The training-data job's arguments and the rules it checks its data against, without Spark: read
from the command line Glue builds (`--name value`), each validated with an error naming the argument,
the value received and what is expected. The names are the infrastructure's
(lib/ml/training-workflow.ts, TRAINING_DATA_JOB_ARGUMENTS); the object layout is the evaluation
function's (lambdas/model-evaluation/names.ts, TRAINING_RUN_LAYOUT). Standard library only, so it
runs (and is tested) without Spark.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Dict, List, Sequence

# The ETL job's command-line reading, shipped with this job too (lib/ml/training-workflow.ts).
from etl_args import ArgumentError, _required, read_options

MODELS = ("anomaly", "failure", "energy")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# The curated tables the example queries may read (each a prefix of the curated bucket, partitioned
# by event_date first), and the other views the job registers.
CURATED_VIEWS = ("curated_telemetry", "device_baselines", "ml_features")
LABELS_VIEW = "labels"
WINDOW_VIEW = "training_window"
# Where the ground truth lies in the raw bucket: NDJSON, one labelled incident a line.
LABELS_PREFIX = "labels/"
# A baseline of event_date D is valid on the day after D (device_baselines' valid_from), so a
# window's first readings need the baselines of the day before it.
CONTEXT_DAYS_BEFORE = 1

# The columns every example query returns before the model's features, in this order.
KEY_COLUMNS = ("split", "device_id", "example_time", "label")
SPLITS = ("train", "holdout")

# Objects of one model's run, relative to its prefix (TRAINING_RUN_LAYOUT).
CHANNEL_FILES = {
    "train": "train/train.csv",
    "holdout": "holdout/holdout.csv",
    "holdout_keys": "holdout-keys/holdout-keys.csv",
}
SUMMARY_FILE = "training-data.json"
# Where Spark writes before the single part file of each channel is copied to its place.
SPARK_TEMP = "_spark/"

_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_OBJECT = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(\S+)$")
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_VIEW_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


class SpecError(ValueError):
    """The model definitions do not describe the model; the message names the field."""


@dataclass(frozen=True)
class TrainingDataArgs:
    job_name: str
    raw_bucket: str
    curated_bucket: str
    artifacts_bucket: str
    sql_bucket: str
    sql_key: str
    spec_bucket: str
    spec_key: str
    model: str
    window_start_ms: int
    split_at_ms: int
    window_end_ms: int
    output_prefix: str


def _matching(options: Dict[str, str], name: str, pattern: "re.Pattern[str]", expected: str) -> "re.Match[str]":
    value = _required(options, name, expected)
    match = pattern.match(value)
    if match is None:
        raise ArgumentError(f"--{name}: received {value!r}, expected {expected}")
    return match


def _hour_ms(options: Dict[str, str], name: str) -> int:
    expected = "a whole UTC hour such as 2026-11-30T00:00:00Z"
    value = _matching(options, name, _HOUR, expected).group(0)
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ArgumentError(f"--{name}: received {value!r}, expected {expected} (a date in the calendar)") from None
    return int(parsed.timestamp() * 1000)


def parse_args(argv: Sequence[str]) -> TrainingDataArgs:
    """Reads and validates every argument the job needs. @raises ArgumentError"""
    options = read_options(argv)
    bucket = "an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
    model = _required(options, "model", f"one of {', '.join(MODELS)}")
    if model not in MODELS:
        raise ArgumentError(f"--model: received {model!r}, expected one of {', '.join(MODELS)}")
    start_ms = _hour_ms(options, "window_start")
    split_ms = _hour_ms(options, "split_at")
    end_ms = _hour_ms(options, "window_end")
    if not start_ms < split_ms:
        raise ArgumentError(
            f"--split_at: received {options['split_at']!r}, expected a later hour than --window_start ({options['window_start']})"
        )
    if not split_ms < end_ms:
        raise ArgumentError(
            f"--window_end: received {options['window_end']!r}, expected a later hour than --split_at ({options['split_at']})"
        )
    prefix_expected = f"training/<run id>/{model}/ (a run id of lowercase letters, digits and hyphens)"
    output_prefix = _required(options, "output_prefix", prefix_expected)
    parts = output_prefix.split("/")
    if len(parts) != 4 or parts[0] != "training" or not _RUN_ID.match(parts[1]) or parts[2] != model or parts[3] != "":
        raise ArgumentError(f"--output_prefix: received {output_prefix!r}, expected {prefix_expected}")
    sql = _matching(options, "sql_location", _S3_OBJECT, "the S3 URL of the example queries' archive, s3://<bucket>/<key>.zip")
    if not sql.group(2).endswith(".zip"):
        raise ArgumentError(
            f"--sql_location: received {sql.group(0)!r}, expected the S3 URL of the example queries' archive, s3://<bucket>/<key>.zip"
        )
    spec = _matching(options, "model_spec_location", _S3_OBJECT, "the S3 URL of models.json, s3://<bucket>/<key>.json")
    if not spec.group(2).endswith(".json"):
        raise ArgumentError(
            f"--model_spec_location: received {spec.group(0)!r}, expected the S3 URL of models.json, s3://<bucket>/<key>.json"
        )
    return TrainingDataArgs(
        job_name=_required(options, "JOB_NAME", "the Glue job's name (Glue sets it)"),
        raw_bucket=_matching(options, "raw_bucket", _BUCKET, bucket).group(0),
        curated_bucket=_matching(options, "curated_bucket", _BUCKET, bucket).group(0),
        artifacts_bucket=_matching(options, "artifacts_bucket", _BUCKET, bucket).group(0),
        sql_bucket=sql.group(1),
        sql_key=sql.group(2),
        spec_bucket=spec.group(1),
        spec_key=spec.group(2),
        model=model,
        window_start_ms=start_ms,
        split_at_ms=split_ms,
        window_end_ms=end_ms,
        output_prefix=output_prefix,
    )


def model_features(spec: object, model: str) -> List[str]:
    """The model's feature names in CSV order, from the parsed models.json. @raises SpecError"""
    models = spec.get("models") if isinstance(spec, dict) else None
    definition = models.get(model) if isinstance(models, dict) else None
    features = definition.get("features") if isinstance(definition, dict) else None
    if not isinstance(features, list) or not features:
        raise SpecError(f"models.json: models.{model}.features: received {features!r}, expected a non-empty array of features")
    names: List[str] = []
    for index, feature in enumerate(features):
        name = feature.get("name") if isinstance(feature, dict) else None
        if not isinstance(name, str) or not re.match(r"^[a-z][a-z0-9_]*$", name):
            raise SpecError(f"models.json: models.{model}.features.{index}.name: received {name!r}, expected a snake_case name")
        names.append(name)
    return names


def expected_columns(features: Sequence[str]) -> List[str]:
    """The columns an example query must return: the keys, the label, then the features in order."""
    return [*KEY_COLUMNS, *features]


def check_columns(received: Sequence[str], features: Sequence[str], query: str) -> None:
    """Fails naming the first column out of place, so a query out of step with models.json never
    trains a model whose columns mean something else. @raises SpecError"""
    expected = expected_columns(features)
    if list(received) == expected:
        return
    for index, (got, want) in enumerate(zip(received, expected)):
        if got != want:
            raise SpecError(f"{query}: column {index + 1}: received {got!r}, expected {want!r} (the order of models.json)")
    raise SpecError(f"{query}: received {len(received)} columns, expected {len(expected)}: {', '.join(expected)}")


def referenced_views(sql: str) -> List[str]:
    """The lake views (curated tables and labels) a query names; only those are loaded."""
    return [view for view in (*CURATED_VIEWS, LABELS_VIEW) if re.search(_VIEW_WORD.format(view), sql)]


def statement(text: str, name: str) -> str:
    """One SELECT without its trailing semicolon."""
    body = text.strip().rstrip(";").strip()
    if not body:
        raise SpecError(f"{name}: empty SQL file, expected one SELECT statement")
    return body


def iso_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def iso_instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_dates(window_start_ms: int, window_end_ms: int) -> List[str]:
    """The `event_date` partitions a run reads: every day the window touches, and the days of
    context before it."""
    first = window_start_ms - window_start_ms % DAY_MS - CONTEXT_DAYS_BEFORE * DAY_MS
    last = (window_end_ms - 1) - (window_end_ms - 1) % DAY_MS
    return [iso_date(ms) for ms in range(first, last + DAY_MS, DAY_MS)]


def partition_days(table_prefix: str, children: Sequence[str], window_start_ms: int, window_end_ms: int) -> List[str]:
    """Of a table's `event_date=YYYY-MM-DD/` prefixes (as S3 lists them), those a run reads."""
    wanted = set(event_dates(window_start_ms, window_end_ms))
    column = "event_date="
    return [
        child
        for child in children
        if child.startswith(f"{table_prefix}{column}")
        and child.endswith("/")
        and child[len(table_prefix) + len(column) : -1] in wanted
    ]
