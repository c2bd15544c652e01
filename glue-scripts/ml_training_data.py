"""The training workflow's Glue job (Glue 5.0, PySpark): builds one model's training data, I/O only.
The examples are the SQL of `ml/sql/<model>_examples.sql` (shipped as one archive,
`--sql_location`), the same files the twin runs in DuckDB (local/ml/model-examples.ts):

1. Register the views the query names: the curated tables (`curated_telemetry`,
   `device_baselines`, `ml_features`: Parquet under the curated bucket, Hive-partitioned by
   event_date first; only the days of the window and the day before it are read), `labels` (the
   simulator's ground truth, NDJSON under the raw bucket's `labels/`) and `training_window` (one
   row: window_start, split_at, window_end).
2. Run the query; check its columns against models.json (split, device_id, example_time, label,
   then the features in order), every split name and every label.
3. Write the channels as the built-in XGBoost container reads CSV: no header, the label first, then
   the features, an empty field a missing value (NaN and infinity become missing). One file per
   channel: `train/train.csv`, `holdout/holdout.csv`, and `holdout-keys/holdout-keys.csv`
   (device_id, example_time, label in the hold-out's order, for the evaluation). Rows are sorted on
   every column, so a rerun writes the same bytes and the keys line up with the hold-out.
4. Write `training-data.json`: the rows and the label's mean of each split.
"""

import io
import json
import sys
import zipfile
from datetime import datetime, timezone
from typing import Dict, List

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ml_training_args import (
    CHANNEL_FILES,
    CURATED_VIEWS,
    LABELS_PREFIX,
    LABELS_VIEW,
    SPARK_TEMP,
    SPLITS,
    SUMMARY_FILE,
    WINDOW_VIEW,
    TrainingDataArgs,
    check_columns,
    event_dates,
    iso_instant,
    model_features,
    parse_args,
    partition_days,
    referenced_views,
    statement,
)

LABEL_FIELDS = ("kind", "deviceId", "deviceType", "start", "end", "failureAt")
CORRUPT_COLUMN = "_corrupt_record"


class S3:
    """The S3 calls the job makes."""

    def __init__(self):
        self.client = boto3.client("s3")

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def keys(self, bucket: str, prefix: str) -> List[str]:
        found: List[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
        return sorted(found)

    def children(self, bucket: str, prefix: str) -> List[str]:
        found: List[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
        return sorted(found)

    def copy(self, bucket: str, source_key: str, target_key: str) -> None:
        # Managed copy: a channel may exceed the 5 GB of a single CopyObject.
        self.client.copy({"Bucket": bucket, "Key": source_key}, bucket, target_key)

    def delete(self, bucket: str, keys: List[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise RuntimeError(f"deleting from {bucket}: {response['Errors'][:3]}")

    def put_json(self, bucket: str, key: str, document: dict) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def load_query(s3: S3, args: TrainingDataArgs) -> str:
    """The model's example query, from the archive of ml/sql."""
    name = f"{args.model}_examples.sql"
    with zipfile.ZipFile(io.BytesIO(s3.read(args.sql_bucket, args.sql_key))) as bundle:
        if name not in bundle.namelist():
            raise ValueError(f"--sql_location: s3://{args.sql_bucket}/{args.sql_key} holds no {name}, expected ml/sql/{name}")
        return statement(bundle.read(name).decode("utf-8"), name)


def register_window(spark: SparkSession, args: TrainingDataArgs) -> None:
    schema = T.StructType(
        [T.StructField(name, T.TimestampType()) for name in ("window_start", "split_at", "window_end")]
    )
    row = (utc(args.window_start_ms), utc(args.split_at_ms), utc(args.window_end_ms))
    spark.createDataFrame([row], schema).createOrReplaceTempView(WINDOW_VIEW)


def register_curated(spark: SparkSession, s3: S3, args: TrainingDataArgs, view: str, log) -> None:
    """A curated table as a view: the event_date partitions of the window and its context, with
    every partition column from the paths (as text, as the ETL writes them)."""
    prefix = f"{view}/"
    days = partition_days(prefix, s3.children(args.curated_bucket, prefix), args.window_start_ms, args.window_end_ms)
    if not days:
        wanted = event_dates(args.window_start_ms, args.window_end_ms)
        raise ValueError(
            f"{view}: no event_date partitions under s3://{args.curated_bucket}/{prefix} from {wanted[0]} to {wanted[-1]}; run the ETL over the training window first"
        )
    log(f"view {view}: {len(days)} day(s)")
    (
        spark.read.option("basePath", f"s3://{args.curated_bucket}/{prefix}")
        .option("mergeSchema", "true")
        .parquet(*[f"s3://{args.curated_bucket}/{day}" for day in days])
        .createOrReplaceTempView(view)
    )


def register_labels(spark: SparkSession, s3: S3, args: TrainingDataArgs, log) -> None:
    """The ground truth: one row per labelled incident. Times are read as the twin reads them (a
    value that is not a time becomes NULL); a line that is not a JSON object fails the job."""
    keys = s3.keys(args.raw_bucket, LABELS_PREFIX)
    if not keys:
        raise ValueError(f"{LABELS_VIEW}: no objects under s3://{args.raw_bucket}/{LABELS_PREFIX}; the example queries need the ground truth")
    log(f"view {LABELS_VIEW}: {len(keys)} object(s)")
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in LABEL_FIELDS] + [T.StructField(CORRUPT_COLUMN, T.StringType())]
    )
    raw = (
        spark.read.schema(schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .json([f"s3://{args.raw_bucket}/{key}" for key in keys])
        .withColumn("source", F.input_file_name())
        .cache()
    )
    corrupt = raw.filter(F.col(CORRUPT_COLUMN).isNotNull()).select("source", CORRUPT_COLUMN).limit(3).collect()
    if corrupt:
        examples = "; ".join(f"{row['source']}: {row[CORRUPT_COLUMN][:80]!r}" for row in corrupt)
        raise ValueError(f"{LABELS_VIEW}: lines that are not a JSON label object, e.g. {examples}")
    raw.select(
        F.col("kind"),
        F.col("deviceId").alias("device_id"),
        F.col("deviceType").alias("device_type"),
        F.col("start").cast("timestamp").alias("start_time"),
        F.col("end").cast("timestamp").alias("end_time"),
        F.col("failureAt").cast("timestamp").alias("failure_at"),
    ).createOrReplaceTempView(LABELS_VIEW)


def as_missing_when_not_finite(column: str):
    value = F.col(column).cast("double")
    return F.when(F.isnan(value) | (F.abs(value) == float("inf")), F.lit(None)).otherwise(value).alias(column)


def examples(spark: SparkSession, query: str, features: List[str], name: str) -> DataFrame:
    """The query's rows, checked, with every value a double (or missing) and a total order."""
    frame = spark.sql(query)
    check_columns(frame.columns, features, name)
    typed = frame.select(
        F.col("split"),
        F.col("device_id").cast("string").alias("device_id"),
        F.date_format(F.col("example_time"), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").alias("example_time"),
        F.col("label").cast("double").alias("label"),
        *[as_missing_when_not_finite(feature) for feature in features],
    )
    return typed.cache()


def check_rows(frame: DataFrame, name: str) -> Dict[str, dict]:
    """Row counts and label means per split; fails on an unknown split, a label that is not a
    finite number, an example without device or time, or an empty split."""
    bad_label = F.col("label").isNull() | F.isnan("label") | (F.abs("label") == float("inf"))
    rows = (
        frame.groupBy("split")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.when(bad_label, 1).otherwise(0)).alias("bad_labels"),
            F.sum(F.when(F.col("device_id").isNull() | F.col("example_time").isNull(), 1).otherwise(0)).alias("bad_keys"),
            F.avg(F.when(~bad_label, F.col("label"))).alias("label_mean"),
        )
        .collect()
    )
    splits = {row["split"]: row for row in rows}
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise ValueError(f"{name}: column split: received {unknown!r}, expected only {', '.join(SPLITS)}")
    for split in SPLITS:
        row = splits.get(split)
        if row is None or row["rows"] == 0:
            raise ValueError(f"{name}: no {split} rows in the window; check the window and that the ETL has run over it")
        if row["bad_labels"]:
            raise ValueError(f"{name}: {row['bad_labels']} {split} row(s) with a label that is not a finite number")
        if row["bad_keys"]:
            raise ValueError(f"{name}: {row['bad_keys']} {split} row(s) without device_id or example_time")
    return {split: {"rows": splits[split]["rows"], "label_mean": splits[split]["label_mean"]} for split in SPLITS}


def write_channel(s3: S3, args: TrainingDataArgs, frame: DataFrame, channel: str) -> str:
    """Writes one headerless CSV file and moves it to its place; returns its key."""
    temp = f"{args.output_prefix}{SPARK_TEMP}{channel}/"
    s3.delete(args.artifacts_bucket, s3.keys(args.artifacts_bucket, temp))
    (
        frame.write.mode("overwrite")
        .option("header", "false")
        .option("nullValue", "")
        .option("emptyValue", "")
        .csv(f"s3://{args.artifacts_bucket}/{temp}")
    )
    parts = [key for key in s3.keys(args.artifacts_bucket, temp) if key.rsplit("/", 1)[-1].startswith("part-")]
    if len(parts) != 1:
        raise RuntimeError(f"{channel}: Spark wrote {len(parts)} part files under {temp}, expected exactly one")
    target = f"{args.output_prefix}{CHANNEL_FILES[channel]}"
    s3.copy(args.artifacts_bucket, parts[0], target)
    s3.delete(args.artifacts_bucket, s3.keys(args.artifacts_bucket, temp))
    return target


def run(spark: SparkSession, args: TrainingDataArgs, log) -> dict:
    s3 = S3()
    features = model_features(json.loads(s3.read(args.spec_bucket, args.spec_key)), args.model)
    name = f"{args.model}_examples.sql"
    query = load_query(s3, args)
    register_window(spark, args)
    views = referenced_views(query)
    for view in views:
        if view in CURATED_VIEWS:
            register_curated(spark, s3, args, view, log)
        else:
            register_labels(spark, s3, args, log)

    frame = examples(spark, query, features, name)
    counts = check_rows(frame, name)
    order = ["device_id", "example_time", "label", *features]
    channel_columns = ["label", *features]

    def split(which: str) -> DataFrame:
        # One partition, sorted on every column: one file, the same bytes on a rerun, and the keys
        # written in the hold-out's own order.
        return frame.filter(F.col("split") == which).repartition(1).sortWithinPartitions(*order)

    holdout = split("holdout").cache()
    written = {
        "train": write_channel(s3, args, split("train").select(*channel_columns), "train"),
        "holdout": write_channel(s3, args, holdout.select(*channel_columns), "holdout"),
        "holdout_keys": write_channel(s3, args, holdout.select("device_id", "example_time", "label"), "holdout_keys"),
    }
    for channel, key in written.items():
        log(f"{channel}: s3://{args.artifacts_bucket}/{key}")
    return {
        "model": args.model,
        "query": name,
        "views": views,
        "features": features,
        "window": {
            "start": iso_instant(args.window_start_ms),
            "split_at": iso_instant(args.split_at_ms),
            "end": iso_instant(args.window_end_ms),
        },
        "splits": counts,
        "objects": written,
    }


def main(argv: List[str]) -> None:
    args = parse_args(argv)
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    logger = glue_context.get_logger()
    # The SQL's timestamps are UTC instants; partition values stay text, as the ETL writes them; no
    # _SUCCESS marker beside a channel's file (SageMaker would read it as data).
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    job = Job(glue_context)
    # No bookmarks (every run names its window), but init/commit apply the security configuration.
    job.init(args.job_name, {"JOB_NAME": args.job_name})
    summary = run(spark, args, lambda line: logger.info(f"ml-training-data: {line}"))
    S3().put_json(args.artifacts_bucket, f"{args.output_prefix}{SUMMARY_FILE}", summary)
    logger.info(f"ml-training-data: summary {json.dumps(summary, sort_keys=True, default=str)}")
    job.commit()


if __name__ == "__main__":
    main(sys.argv[1:])
