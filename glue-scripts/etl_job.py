"""The batch ETL's Glue job (Glue 5.0, PySpark): I/O only. The transforms are the SQL files of
`sql/` (shipped as one archive, `--sql_location`), executed in the order of `sql/pipeline.json`,
exactly as the twin's DuckDB runner executes them (local/etl/, glue-scripts/README.md):

1. Choose the event-hour window. `--window_kind ingest` (the schedule): `--window_start` and
   `--window_end` are ingest hours; the planner SQL reads their raw partitions and names the event
   hours their readings touch; the run rebuilds from the earliest of those to the end. `event`
   (reruns, backfills): the window is the event hours to rebuild.
2. Register the parameter views, then load every source from the Hive partitions its selection
   names, with its declared columns (a line that is not a JSON object of those types lands in the
   corrupt-record column, Spark's PERMISSIVE mode).
3. Run each step into a temp view; write each output under a staging prefix of the curated bucket
   with dynamic partition overwrite, one file per partition, checking the run owns every partition.
4. Swap: copy each staged partition file over the live one (one object per partition, so a reader
   sees the old or the new file, never a mix), delete live objects of owned partitions the run no
   longer produces, clear the staging prefix. Register the tables and partitions in the catalog.
5. Write the run summary (the `run_summary` view) to `--summary_key`, where the workflow reads the
   data-quality score from.
"""

import io
import json
import sys
import zipfile
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_args import EtlArgs, parse_args
from etl_window import (
    EtlWindow,
    day_start,
    HOUR_MS,
    iso_instant,
    owned_paths,
    planned_window,
    run_id,
    selects_key,
    window_days,
    window_hours,
    window_instants,
)

STAGING_PREFIX = "_staging/"
PARTITION_FILE = "part-00000.parquet"
RUN_SUMMARY_VIEW = "run_summary"
MANIFEST_FILE = "pipeline.json"

SPARK_TYPES = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
}


class Lake:
    """The lake's buckets by role, and the S3 calls the job makes on them."""

    def __init__(self, args: EtlArgs):
        self.s3 = boto3.client("s3")
        self.buckets = {"raw": args.raw_bucket, "quarantine": args.quarantine_bucket, "curated": args.curated_bucket}

    def url(self, role: str, key: str) -> str:
        return f"s3://{self.buckets[role]}/{key}"

    def list_keys(self, role: str, prefix: str) -> List[str]:
        keys: List[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.buckets[role], Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def list_children(self, role: str, prefix: str) -> List[str]:
        children: List[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.buckets[role], Prefix=prefix, Delimiter="/"
        )
        for page in pages:
            children.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
        return sorted(children)

    def exists(self, role: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.buckets[role], Key=key)
        except self.s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def copy(self, role: str, source_key: str, target_key: str) -> None:
        bucket = self.buckets[role]
        self.s3.copy_object(Bucket=bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": source_key})

    def delete(self, role: str, keys: List[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            response = self.s3.delete_objects(Bucket=self.buckets[role], Delete={"Objects": batch, "Quiet": True})
            if response.get("Errors"):
                raise RuntimeError(f"deleting from {self.buckets[role]}: {response['Errors'][:3]}")

    def put_json(self, role: str, key: str, document: dict) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.buckets[role], Key=key, Body=body, ContentType="application/json")


def load_pipeline(args: EtlArgs) -> Tuple[dict, Dict[str, str]]:
    """The manifest and the text of every SQL file it names, from the archive."""
    archive = boto3.client("s3").get_object(Bucket=args.sql_bucket, Key=args.sql_key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = set(bundle.namelist())

        def read(name: str, field: str) -> str:
            if name not in names:
                raise ValueError(f"{MANIFEST_FILE}: {field}: received {name!r}, expected a file of the SQL archive")
            return bundle.read(name).decode("utf-8")

        manifest = json.loads(read(MANIFEST_FILE, "(the manifest)"))
        if manifest.get("version") != 1:
            raise ValueError(f"{MANIFEST_FILE}: version: received {manifest.get('version')!r}, expected 1")
        sql = {manifest["planner"]["file"]: read(manifest["planner"]["file"], "planner.file")}
        for index, step in enumerate(manifest["steps"]):
            sql[step["file"]] = read(step["file"], f"steps.{index}.file")
    return manifest, sql


def statement(text: str, name: str) -> str:
    """One SELECT without its trailing semicolon."""
    body = text.strip().rstrip(";").strip()
    if not body:
        raise ValueError(f"{name}: empty SQL file, expected one SELECT statement")
    return body


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def register_parameters(spark: SparkSession, manifest: dict, window: EtlWindow) -> None:
    """`etl_window` (one row) and `etl_hours` (one row per hour), as the manifest declares them."""
    views = manifest["parameters"]["views"]
    instants = window_instants(window, manifest["parameters"]["baselineDays"])
    window_columns = views["etl_window"]["columns"]
    for name in window_columns:
        if name not in instants:
            raise ValueError(f"{MANIFEST_FILE}: parameters.views.etl_window.columns.{name}: not a value this runner provides")
    window_schema = T.StructType([T.StructField(n, SPARK_TYPES[t]) for n, t in window_columns.items()])
    spark.createDataFrame([tuple(utc(instants[n]) for n in window_columns)], window_schema).createOrReplaceTempView(
        "etl_window"
    )

    hour_columns = views["etl_hours"]["columns"]
    providers = {
        "hour_start": lambda h: utc(h.hour_start_ms),
        "hour_index": lambda h: h.hour_index,
        "event_date": lambda h: h.event_date,
        "event_hour": lambda h: h.event_hour,
        "day_start": lambda h: utc(h.day_start_ms),
    }
    for name in hour_columns:
        if name not in providers:
            raise ValueError(f"{MANIFEST_FILE}: parameters.views.etl_hours.columns.{name}: not a value this runner provides")
    hours_schema = T.StructType([T.StructField(n, SPARK_TYPES[t]) for n, t in hour_columns.items()])
    rows = [tuple(providers[n](hour) for n in hour_columns) for hour in window_hours(window)]
    spark.createDataFrame(rows, hours_schema).createOrReplaceTempView("etl_hours")


def selected_keys(lake: Lake, source: dict, selection: Optional[dict], instants: Dict[str, int]) -> List[str]:
    """The source's objects the run reads. Partition levels are listed one at a time, the date
    level only within the selection's range, so a run never lists the whole history."""
    if "key" in source:
        return [source["key"]] if lake.exists(source["bucket"], source["key"]) else []
    if selection is None:
        return []
    low = day_start(instants[selection["from"]] + selection["fromOffsetHours"] * HOUR_MS)
    high = instants[selection["to"]] + selection["toOffsetHours"] * HOUR_MS
    prefixes = [source["prefix"]]
    for column in [p["name"] for p in source.get("partitions", [])]:
        children: List[str] = []
        for prefix in prefixes:
            for child in lake.list_children(source["bucket"], prefix):
                value = child[len(prefix) :].rstrip("/")
                if not value.startswith(f"{column}="):
                    continue
                if column == selection["date"]:
                    day = value[len(column) + 1 :]
                    try:
                        day_ms = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp() * 1000)
                    except ValueError:
                        continue
                    if day_ms + 24 * HOUR_MS <= low or day_ms >= high:
                        continue
                children.append(child)
        prefixes = children
        if column == selection["date"]:
            break
    return [
        key
        for prefix in prefixes
        for key in lake.list_keys(source["bucket"], prefix)
        if not key.endswith("/") and selects_key(selection, instants, key)
    ]


def json_schema(columns: List[dict], corrupt_column: Optional[str]) -> T.StructType:
    """The JSON structure the reader parses a record with, from the columns' dotted paths."""
    tree: dict = {}
    for column in columns:
        parts = (column.get("path") or column["name"]).split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = SPARK_TYPES[column["type"]]

    def struct(node: dict) -> T.StructType:
        return T.StructType(
            [T.StructField(k, struct(v) if isinstance(v, dict) else v, True) for k, v in node.items()]
        )

    schema = struct(tree)
    if corrupt_column:
        schema = schema.add(T.StructField(corrupt_column, T.StringType(), True))
    return schema


def load_source(spark: SparkSession, lake: Lake, name: str, source: dict, keys: List[str]) -> DataFrame:
    """A source as a view: its declared columns, then its partition columns from each file's path."""
    corrupt = source.get("corruptRecordColumn")
    partitions = source.get("partitions", [])
    declared = (
        ([T.StructField(corrupt, T.StringType())] if corrupt else [])
        + [T.StructField(c["name"], SPARK_TYPES[c["type"]]) for c in source["columns"]]
        + [T.StructField(p["name"], SPARK_TYPES[p["type"]]) for p in partitions]
    )
    if not keys:
        frame = spark.createDataFrame([], T.StructType(declared))
        frame.createOrReplaceTempView(name)
        return frame
    urls = [lake.url(source["bucket"], key) for key in keys]
    if source["format"] == "parquet":
        raw = spark.read.option("mergeSchema", "true").parquet(*urls)
        columns = [F.col(c["name"]).cast(SPARK_TYPES[c["type"]]).alias(c["name"]) for c in source["columns"]]
    else:
        reader = (
            spark.read.schema(json_schema(source["columns"], corrupt))
            .option("mode", "PERMISSIVE")
            # An object that does not decompress is skipped, as the twin skips it.
            .option("ignoreCorruptFiles", "true")
            .option("multiLine", "true" if source["format"] == "json" else "false")
        )
        if corrupt:
            reader = reader.option("columnNameOfCorruptRecord", corrupt)
        raw = reader.json(urls)
        columns = ([F.col(corrupt)] if corrupt else []) + [
            F.col(".".join(f"`{part}`" for part in (c.get("path") or c["name"]).split("."))).alias(c["name"])
            for c in source["columns"]
        ]
    partition_columns = [
        F.regexp_extract(F.input_file_name(), f"/{p['name']}=([^/]*)/", 1).cast(SPARK_TYPES[p["type"]]).alias(p["name"])
        for p in partitions
    ]
    # Cached: a query may reference only the corrupt-record column, which Spark refuses on raw JSON.
    frame = raw.select(*columns, *partition_columns).cache()
    frame.createOrReplaceTempView(name)
    return frame


def register_sources(
    spark: SparkSession, lake: Lake, sources: Dict[str, Tuple[dict, Optional[dict]]], instants: Dict[str, int], log
) -> Dict[str, int]:
    """Loads every source; returns the number of objects read of each."""
    objects: Dict[str, int] = {}
    for name, (source, selection) in sources.items():
        keys = selected_keys(lake, source, selection, instants)
        log(f"source {name}: {len(keys)} object(s)")
        load_source(spark, lake, name, source, keys)
        objects[name] = len(keys)
    return objects


def choose_window(spark: SparkSession, lake: Lake, manifest: dict, sql: Dict[str, str], args: EtlArgs, log) -> EtlWindow:
    if args.window_kind == "event":
        return args.window
    planner = manifest["planner"]
    register_parameters(spark, manifest, args.window)
    sources = {name: (manifest["sources"][name], spec["select"]) for name, spec in planner["sources"].items()}
    register_sources(spark, lake, sources, window_instants(args.window, manifest["parameters"]["baselineDays"]), log)
    touched = spark.sql(
        f"SELECT unix_millis(hour_start) AS hour_start_ms FROM ({statement(sql[planner['file']], planner['file'])}) AS p"
    ).collect()
    window = planned_window(args.window, [row["hour_start_ms"] for row in touched])
    log(f"planned event hours {window.label()} from ingest hours {args.window.label()} ({len(touched)} touched)")
    return window


def partition_path(step: dict, row) -> str:
    """`event_date=2026-11-27/event_hour=13/` of one row's partition values."""
    segments = []
    for column in step["output"]["partitionBy"]:
        value = row[column]
        if value is None or str(value) == "":
            raise ValueError(
                f"{step['file']}: partition column {column}: received {value!r}, expected a value for every row"
            )
        segments.append(f"{column}={value}/")
    return "".join(segments)


def stage_output(lake: Lake, frame: DataFrame, step: dict, window: EtlWindow, staging: str) -> Dict[str, int]:
    """Writes a step's rows under the staging prefix, one file per partition, after checking the run
    owns every partition it produces; returns the rows per partition path."""
    output = step["output"]
    owned = owned_paths(output, window)
    counts = {partition_path(step, row): row["count"] for row in frame.groupBy(*output["partitionBy"]).count().collect()}
    for path in counts:
        if not any(path.startswith(prefix) for prefix in owned):
            raise ValueError(
                f"{step['file']}: rows for partition {path} lie outside the run's window (expected one of {', '.join(owned[:3])}{', ...' if len(owned) > 3 else ''})"
            )
    if counts:
        (
            frame.repartition(*output["partitionBy"])
            .sortWithinPartitions(*output["partitionBy"], *output["sortBy"])
            .write.mode("overwrite")
            .partitionBy(*output["partitionBy"])
            .option("compression", "snappy")
            .parquet(lake.url("curated", f"{staging}{output['prefix']}"))
        )
    return counts


def publish(lake: Lake, staged: Dict[str, Tuple[dict, Dict[str, int]]], window: EtlWindow, staging: str) -> Tuple[int, int]:
    """Swaps every owned partition in: staged file over the live one, stale live objects deleted."""
    staged_keys = [key for key in lake.list_keys("curated", staging) if key.endswith(".parquet")]
    written: List[str] = []
    for view, (output, counts) in staged.items():
        for path in counts:
            files = [key for key in staged_keys if key.startswith(f"{staging}{output['prefix']}{path}")]
            if len(files) != 1:
                raise RuntimeError(f"{view}: staged {len(files)} files for partition {path}, expected exactly one")
            target = f"{output['prefix']}{path}{PARTITION_FILE}"
            lake.copy("curated", files[0], target)
            written.append(target)
    stale: List[str] = []
    for view, (output, counts) in staged.items():
        owned = [f"{output['prefix']}{path}" for path in owned_paths(output, window)]
        date_column = output["partitionBy"][0]
        for day in window_days(window):
            for key in lake.list_keys("curated", f"{output['prefix']}{date_column}={day}/"):
                if key not in written and any(key.startswith(prefix) for prefix in owned):
                    stale.append(key)
    lake.delete("curated", stale)
    lake.delete("curated", lake.list_keys("curated", staging))
    return len(written), len(stale)


def hive_type(data_type: T.DataType) -> str:
    return data_type.simpleString()


def update_catalog(args: EtlArgs, lake: Lake, frames: Dict[str, DataFrame], staged: Dict[str, Tuple[dict, Dict[str, int]]]) -> None:
    """Creates or updates each output's table (columns from the step's schema) and registers the
    partitions the run wrote; Athena and the warehouse load read them through the catalog."""
    glue = boto3.client("glue")
    parquet = {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }
    for view, (output, counts) in staged.items():
        schema = frames[view].schema
        partition_columns = output["partitionBy"]
        location = lake.url("curated", output["prefix"])
        table = {
            "Name": view,
            "Description": f"ETL output of {view} (glue-scripts/sql); partitions replaced by each run",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": c, "Type": hive_type(schema[c].dataType)} for c in partition_columns],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": f.name, "Type": hive_type(f.dataType)} for f in schema.fields if f.name not in partition_columns
                ],
                "Location": location,
                **parquet,
            },
        }
        try:
            glue.create_table(DatabaseName=args.database_name, TableInput=table)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=args.database_name, TableInput=table)
        partitions = [
            {
                "Values": [segment.split("=", 1)[1] for segment in path.strip("/").split("/")],
                "StorageDescriptor": {"Columns": table["StorageDescriptor"]["Columns"], "Location": f"{location}{path}", **parquet},
            }
            for path in sorted(counts)
        ]
        for start in range(0, len(partitions), 100):
            response = glue.batch_create_partition(
                DatabaseName=args.database_name, TableName=view, PartitionInputList=partitions[start : start + 100]
            )
            errors = [e for e in response.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
            if errors:
                raise RuntimeError(f"registering partitions of {view}: {errors[:3]}")


def run(spark: SparkSession, args: EtlArgs, log) -> dict:
    lake = Lake(args)
    manifest, sql = load_pipeline(args)
    window = choose_window(spark, lake, manifest, sql, args, log)
    staging = f"{STAGING_PREFIX}run-{run_id(window)}/"
    # A failed earlier attempt of this window may have left staged files: they must not be swapped in.
    lake.delete("curated", lake.list_keys("curated", staging))

    register_parameters(spark, manifest, window)
    instants = window_instants(window, manifest["parameters"]["baselineDays"])
    sources = {name: (source, source.get("select")) for name, source in manifest["sources"].items()}
    objects_read = register_sources(spark, lake, sources, instants, log)
    # Raw telemetry objects, as the twin counts them: the planner's sources (not the registry,
    # weather or alerts objects).
    raw_objects = sum(objects_read.get(name, 0) for name in manifest["planner"]["sources"])

    frames: Dict[str, DataFrame] = {}
    staged: Dict[str, Tuple[dict, Dict[str, int]]] = {}
    for step in manifest["steps"]:
        frame = spark.sql(statement(sql[step["file"]], step["file"])).cache()
        frame.createOrReplaceTempView(step["view"])
        frames[step["view"]] = frame
        if "output" in step:
            staged[step["view"]] = (step["output"], stage_output(lake, frame, step, window, staging))
            log(f"{step['file']}: staged {len(staged[step['view']][1])} partition(s)")
    written, deleted = publish(lake, staged, window, staging)
    update_catalog(args, lake, frames, staged)

    rows = frames[RUN_SUMMARY_VIEW].collect() if RUN_SUMMARY_VIEW in frames else []
    figures = {k: (float(v) if not isinstance(v, (int, type(None))) else v) for k, v in (rows[0].asDict() if rows else {}).items()}
    return {
        **figures,
        "window": {"from": iso_instant(window.start_ms), "to": iso_instant(window.end_ms)},
        "window_kind": args.window_kind,
        "requested_window": {"from": iso_instant(args.window.start_ms), "to": iso_instant(args.window.end_ms)},
        "raw_objects_read": raw_objects,
        "tables": {view: {"partitions": len(counts), "rows": sum(counts.values())} for view, (_, counts) in staged.items()},
        "objects_written": written,
        "objects_deleted": deleted,
    }


def main(argv: List[str]) -> None:
    args = parse_args(argv)
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    logger = glue_context.get_logger()
    # The SQL's timestamps are UTC instants; a run replaces exactly the partitions it writes.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    job = Job(glue_context)
    # No bookmarks (every run names its window), but init/commit apply the security configuration.
    job.init(args.job_name, {"JOB_NAME": args.job_name})
    summary = run(spark, args, lambda line: logger.info(f"etl: {line}"))
    Lake(args).put_json("curated", args.summary_key, summary)
    logger.info(f"etl: summary {args.summary_key}: {json.dumps(summary, sort_keys=True)}")
    job.commit()


if __name__ == "__main__":
    main(sys.argv[1:])
