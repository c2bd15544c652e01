/**
 * The feature row of a model whose rows come from a table (`ml_features`, see ml/models.json): one
 * value per feature in the spec's order, the row a CSV line carries to the endpoint and the training
 * CSV carries to XGBoost. An `indicator` is 1 when its column equals its value (0 otherwise, NULL
 * included); any other feature is the column of its name, NULL being a missing value.
 *
 * Pure, so the ETL's scoring function and its tests share it; the training examples compute the
 * same values in SQL (ml/sql/<model>_examples.sql).
 */
import type { FeatureDefinition, ModelDefinition } from '../../ml/model-spec.ts';
import type { CsvValue } from './endpoint-client.ts';

/** A row as a Parquet reader gives it: column name to value (number, bigint, string, Date, null). */
export type TableRow = Readonly<Record<string, unknown>>;

/** A table row whose columns are not what the model's features need. */
export class FeatureTableError extends Error {
  override readonly name = 'FeatureTableError';
}

/** The columns a model's features read, in the spec's order, each once. */
export function featureColumns(model: ModelDefinition): string[] {
  return [...new Set(model.features.map((feature) => feature.indicator?.column ?? feature.name))];
}

function featureValue(feature: FeatureDefinition, row: TableRow, where: string): CsvValue {
  const column = feature.indicator?.column ?? feature.name;
  if (!Object.hasOwn(row, column)) {
    throw new FeatureTableError(
      `${where}: ${column}: received no such column, expected the column of feature ${feature.name}`,
    );
  }
  const value = row[column];
  if (feature.indicator) return value === feature.indicator.equals ? 1 : 0;
  if (feature.derived) {
    throw new FeatureTableError(
      `${where}: ${feature.name}: received a derived feature, expected a column or an indicator (a table model computes nothing)`,
    );
  }
  if (value === null || value === undefined) return null;
  // BIGINT columns (counts) arrive as bigint, DOUBLE and INT as number.
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number === 'boolean') return number ? 1 : 0;
  if (typeof number !== 'number') {
    throw new FeatureTableError(
      `${where}: ${column}: received ${JSON.stringify(String(value))}, expected a number or NULL`,
    );
  }
  // NaN and infinity are missing values, as in the training CSV.
  return Number.isFinite(number) ? number : null;
}

/**
 * The feature values of `row` in the spec's order.
 * @param where names the row in errors, e.g. `s3://bucket/key, row 3`
 * @throws FeatureTableError naming the row, the column and the value when a column is missing or not numeric
 */
export function tableFeatureRow(model: ModelDefinition, row: TableRow, where = 'row'): CsvValue[] {
  return model.features.map((feature) => featureValue(feature, row, where));
}
