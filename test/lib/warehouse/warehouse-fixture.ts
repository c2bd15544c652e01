/** The warehouse's constructs in a test stack, as the pipeline stack composes them, with its template. */
import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TelemetryLake } from '../../../lib/lake/telemetry-lake.ts';
import {
  AnalyticsWarehouse,
  type AnalyticsWarehouseProps,
} from '../../../lib/warehouse/analytics-warehouse.ts';
import { QuickSightDatasets } from '../../../lib/warehouse/quicksight-datasets.ts';
import { WarehouseLoader } from '../../../lib/warehouse/warehouse-loader.ts';
import { WarehouseSchema } from '../../../lib/warehouse/warehouse-schema.ts';
import { testStack } from '../support/cdk.ts';

export const GROUP_ARN = 'arn:aws:quicksight:us-east-1:123456789012:group/default/analysts';

export interface WarehouseFixture {
  readonly stack: Stack;
  readonly lake: TelemetryLake;
  readonly warehouse: AnalyticsWarehouse;
  readonly schema: WarehouseSchema;
  readonly loader: WarehouseLoader;
  readonly quicksight: QuickSightDatasets;
  readonly template: Template;
}

export function buildWarehouse(
  overrides: Partial<Omit<AnalyticsWarehouseProps, 'lake' | 'namePrefix'>> = {},
): WarehouseFixture {
  const stack = testStack();
  const lake = new TelemetryLake(stack, 'Lake', {
    databaseName: 'sdap_test',
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const warehouse = new AnalyticsWarehouse(stack, 'Warehouse', {
    lake,
    namePrefix: 'sdap-test',
    ...overrides,
  });
  const schema = new WarehouseSchema(stack, 'WarehouseSchema', { warehouse });
  const loader = new WarehouseLoader(stack, 'WarehouseLoader', { warehouse, schema, lake });
  const quicksight = new QuickSightDatasets(stack, 'QuickSight', {
    warehouse,
    schema,
    groupArn: GROUP_ARN,
    namePrefix: 'sdap-test',
  });
  return { stack, lake, warehouse, schema, loader, quicksight, template: Template.fromStack(stack) };
}
