/**
 * The shape of the warehouse spec: tables, their columns, keys, physical layout and how each is
 * loaded from the curated lake. One spec renders the DDL for every dialect (Redshift, PostgreSQL,
 * DuckDB), the loads, the QuickSight datasets and the analyst guide; nothing keeps its own copy of a
 * column list.
 */

/** Logical column types; each dialect maps them to its own names (see `ddl.ts`). */
export const WAREHOUSE_TYPES = ['string', 'int', 'bigint', 'double', 'boolean', 'timestamp', 'date'] as const;
export type WarehouseType = (typeof WAREHOUSE_TYPES)[number];

/** The schema every table and view lives in, in every dialect. */
export const WAREHOUSE_SCHEMA = 'analytics';

export interface WarehouseColumn {
  readonly name: string;
  readonly type: WarehouseType;
  /** What the column means, in the analyst's words (units in the name when the type has none). */
  readonly description: string;
  /** Longest text the column holds (Redshift `VARCHAR(n)`), for `string` columns. @default 256 */
  readonly maxLength?: number;
}

/** A column of a curated Parquet table as the ETL writes it (file columns, in file order). */
export interface CuratedColumn {
  readonly name: string;
  readonly type: WarehouseType;
}

/**
 * A curated table a load reads: the ETL's output prefix, how its partitions are laid out, and the
 * columns of its files. Redshift's COPY maps Parquet columns by position, so the order matters; a
 * test compares it with what the ETL really writes.
 */
export interface CuratedTable {
  readonly name: string;
  /** Key prefix in the curated bucket, ending in `/`. */
  readonly prefix: string;
  /** `hour`: `event_date=…/event_hour=…/` partitions; `day`: `event_date=…/` partitions. */
  readonly scope: 'hour' | 'day';
  readonly columns: readonly CuratedColumn[];
}

/**
 * How rows of one curated table become rows of a warehouse table. Expressions are SQL in the common
 * ground of Redshift, PostgreSQL and DuckDB over the staged rows (alias `s`) and two partition
 * literals: `{{event_date}}` (a DATE) and `{{hour_start}}` (a TIMESTAMP, hour scope only).
 */
export interface TableLoad {
  readonly from: CuratedTable;
  /** Expression for each warehouse column; a column not listed takes the staged column of its name. */
  readonly expressions?: Readonly<Record<string, string>>;
  /** Staged rows to keep. @default - every row */
  readonly where?: string;
  /**
   * Which warehouse rows one partition of the source owns: after the MERGE, owned rows the partition
   * no longer holds are deleted, so a rerun that drops a row (a late reading that clears an anomaly)
   * drops it from the warehouse too. Undefined for dimensions, whose rows outlive a snapshot.
   */
  readonly owns?: {
    /** The warehouse column holding the partition's instant (`hour_start` or `event_date`). */
    readonly column: string;
    /** Further condition on owned rows, when several loads share a table. */
    readonly where?: string;
    /**
     * The column an owned row is matched on against the partition's rows. @default - the business
     * key without `column`, which must then be one column; a table keyed by more (a prediction's
     * `model_name`) names the column left once `where` fixes the others
     */
    readonly key?: string;
  };
  /** A column that must not go backwards: a staged row older than the warehouse's is skipped. */
  readonly newerBy?: string;
}

export type Distribution =
  | { readonly style: 'all' }
  | { readonly style: 'auto' }
  | { readonly style: 'key'; readonly column: string };

export interface WarehouseTable {
  readonly name: string;
  readonly kind: 'dimension' | 'fact';
  readonly description: string;
  readonly columns: readonly WarehouseColumn[];
  /** The business key: what makes a row unique, what the MERGE matches on. */
  readonly key: readonly string[];
  /** Redshift distribution: `all` for small dimensions, `key` to co-locate a fact with its joins. */
  readonly distribution: Distribution;
  /** Redshift compound sort key, the column queries filter on first. */
  readonly sortKey: readonly string[];
  /** How often new rows arrive, as the analyst guide states it. */
  readonly refresh: string;
  readonly loads: readonly TableLoad[];
}

/** A view for analysts: its SQL lives in `warehouse/sql/<name>.sql`. */
export interface WarehouseView {
  readonly name: string;
  readonly description: string;
  /** The view's columns in order; a test runs the view and compares. */
  readonly columns: readonly WarehouseColumn[];
  /** Questions the view answers, with the SQL an analyst would type (for the analyst guide). */
  readonly examples: ReadonlyArray<{ readonly question: string; readonly sql: string }>;
}
