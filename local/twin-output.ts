/**
 * Where a twin run leaves its output. A module of its own so that commands reading the output
 * (`sdap query`, `sdap etl`) need not load the whole twin to learn where it is.
 */

/** The default output directory of `sdap twin` and `npm start`. */
export const DEFAULT_OUT_DIR = 'out/twin';

/** The warehouse file in the output directory. */
export const WAREHOUSE_FILE = 'warehouse.duckdb';

/** The warehouse report in the output directory. */
export const REPORT_FILE = 'report.html';
