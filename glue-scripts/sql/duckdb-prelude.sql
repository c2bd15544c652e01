-- DuckDB compatibility prelude: the Spark SQL functions the transforms call that DuckDB spells
-- differently, defined as macros under their Spark names. The DuckDB runner executes this file
-- once per connection before any transform; Spark needs nothing of it (the Glue job sets the
-- session time zone to UTC, as the first statement here does for DuckDB).
--
-- Timestamps are UTC instants held in a zone-less TIMESTAMP, as in a Spark session whose
-- time zone is UTC.
SET TimeZone = 'UTC';

-- Spark: try_to_timestamp(text) parses ISO 8601 with an offset into the session zone, NULL when it
-- cannot. DuckDB's CAST(text AS TIMESTAMP) drops the offset; TIMESTAMPTZ honours it, and its
-- microseconds since the epoch are the UTC wall time (three times faster than a cast through ICU).
CREATE OR REPLACE MACRO try_to_timestamp(text) AS make_timestamp(epoch_us(TRY_CAST(text AS TIMESTAMPTZ)));

-- Spark: unix_seconds(ts) and unix_millis(ts), whole seconds and milliseconds since the epoch.
CREATE OR REPLACE MACRO unix_seconds(ts) AS CAST(floor(epoch(ts)) AS BIGINT);
CREATE OR REPLACE MACRO unix_millis(ts) AS epoch_ms(ts);

-- Spark: percentile(x, p), the exact percentile with linear interpolation between rows.
CREATE OR REPLACE MACRO percentile(x, p) AS quantile_cont(x, p);
