import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStageConfig, type StageName } from '../../../lib/config.ts';
import { stackNameOf, TelemetryPipelineStack } from '../../../lib/telemetry-pipeline-stack.ts';
import { testApp } from '../support/cdk.ts';
import { type TestModels, writeTestModels } from '../support/test-models.ts';

let models: TestModels;
beforeAll(() => {
  models = writeTestModels();
});
afterAll(() => models.remove());

/** The dashboard's body as CloudFormation holds it: a join of text and references, flattened to text. */
function dashboardBody(template: Template): { name: string; body: string } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const properties = (dashboards[0] as { Properties: { DashboardName: string; DashboardBody: unknown } })
    .Properties;
  return { name: properties.DashboardName, body: JSON.stringify(properties.DashboardBody) };
}

describe.each(['dev', 'prod'] as const)('PipelineDashboard in the %s stack', (stage: StageName) => {
  let template: Template;

  beforeAll(() => {
    const stack = new TelemetryPipelineStack(testApp(), stackNameOf(stage), {
      config: buildStageConfig(stage),
      modelPath: models.modelPath,
    });
    template = Template.fromStack(stack);
  });

  it('is one dashboard named after the stage', () => {
    expect(dashboardBody(template).name).toBe(`sdap-${stage}-pipeline`);
  });

  it("shows every one of the stage's alarms, each titled with its runbook id", () => {
    // Prepare
    const { body } = dashboardBody(template);
    const alarms = template.findResources('AWS::CloudWatch::Alarm');

    // Assess: an alarm added without a place on the dashboard fails here.
    expect(Object.keys(alarms).length).toBeGreaterThan(5);
    for (const [logicalId, alarm] of Object.entries(alarms)) {
      expect(body, `${logicalId} is not on the dashboard`).toContain(`"Fn::GetAtt":["${logicalId}","Arn"]`);
      const name = (alarm as { Properties: { AlarmName: string } }).Properties.AlarmName;
      const alarmId = name.replace(`sdap-${stage}-`, '');
      expect(body).toContain(`\\"title\\":\\"${alarmId}\\"`);
    }
  });

  it("graphs the ingest path's traffic with the resources' own dimensions", () => {
    const { body } = dashboardBody(template);
    const streamRef = Object.keys(template.findResources('AWS::Kinesis::Stream'))[0];

    expect(body).toContain(
      `\\"AWS/Kinesis\\",\\"IncomingRecords\\",\\"StreamName\\",\\"",{"Ref":"${streamRef}"}`,
    );
    expect(body).toContain('\\"Sdap\\",\\"ReadingsValid\\",\\"service\\",\\"telemetry-validator\\"');
    expect(body).toContain('\\"Sdap\\",\\"ReadingsQuarantined\\",\\"service\\",\\"telemetry-validator\\"');
    expect(body).toContain('\\"AWS/Lambda\\",\\"Duration\\",\\"FunctionName\\"');
  });

  it('has a section for each part the stage deploys, and none for the parts it leaves out', () => {
    const { body } = dashboardBody(template);

    expect(body).toContain('## Ingest');
    expect(body).toContain('## Batch ETL');
    if (stage === 'prod') {
      expect(body).toContain('## Model endpoints');
      expect(body).toContain('## Warehouse loads');
    } else {
      expect(body).not.toContain('## Model endpoints');
      expect(body).not.toContain('## Warehouse loads');
    }
  });
});
