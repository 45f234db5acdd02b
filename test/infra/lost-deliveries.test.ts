import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../shared/actions/types.ts';
import { cleanup, type Synthesized, synthesize } from './synth.ts';

interface AlarmResource {
  Type: string;
  Properties: {
    Namespace?: string;
    MetricName?: string;
    Dimensions?: Array<{ Name: string; Value: unknown }>;
    Statistic?: string;
    Period?: number;
    Threshold?: number;
    ComparisonOperator?: string;
    EvaluationPeriods?: number;
    TreatMissingData?: string;
  };
}

/** Whether `alarm` fires on the first lost request of a 5-minute period, and stays OK while none is counted. */
const firesOnTheFirst = (alarm: AlarmResource['Properties']) =>
  alarm.Statistic === 'Sum' &&
  alarm.Period === 300 &&
  alarm.Threshold === 0 &&
  alarm.ComparisonOperator === 'GreaterThanThreshold' &&
  alarm.EvaluationPeriods === 1 &&
  alarm.TreatMissingData === 'notBreaching';

describe('Stack: alarms on requests lost before any queue holds them', () => {
  let synthesized: Synthesized;
  let alarms: AlarmResource['Properties'][];

  beforeAll(() => {
    synthesized = synthesize('prod', {}, { bundling: false });
    const resources = synthesized.template.toJSON().Resources as Record<string, AlarmResource>;
    alarms = Object.values(resources)
      .filter((resource) => resource.Type === 'AWS::CloudWatch::Alarm')
      .map((resource) => resource.Properties);
  });
  afterAll(() => cleanup(synthesized));

  /** The logical id of a construct's CloudFormation resource, as a Ref names it. */
  const ref = (construct: { node: { defaultChild?: unknown } }) => ({
    Ref: synthesized.stack.getLogicalId(construct.node.defaultChild as never),
  });

  it('alarms when a bus rule can deliver a request neither to its queue nor to the DLQ', () => {
    // Prepare: every family rule and the unrouted-requests rule
    const rules = [
      ...FAMILIES.map((family) => synthesized.stack.queues[family].rule),
      synthesized.stack.unroutedRequestsRule,
    ];

    // Act
    const watched = alarms
      .filter(
        (alarm) => alarm.Namespace === 'AWS/Events' && alarm.MetricName === 'InvocationsFailedToBeSentToDlq',
      )
      .map((alarm) => alarm.Dimensions);

    // Assess: on the custom bus's dimensions, at the first lost request
    expect(watched).toEqual(
      rules.map((rule) => [
        { Name: 'EventBusName', Value: synthesized.config.eventBusName },
        // The rule's own name: the last part of its ARN (its Ref would be `<bus>|<rule>`)
        {
          Name: 'RuleName',
          Value: { 'Fn::Select': [2, { 'Fn::Split': ['/', { 'Fn::GetAtt': [ref(rule).Ref, 'Arn'] }] }] },
        },
      ]),
    );
    expect(
      alarms.filter((alarm) => alarm.MetricName === 'InvocationsFailedToBeSentToDlq').every(firesOnTheFirst),
    ).toBe(true);
  });

  it('alarms when a failed asynchronous invocation cannot reach the family DLQ', () => {
    // Act
    const watched = alarms
      .filter(
        (alarm) => alarm.Namespace === 'AWS/Lambda' && alarm.MetricName === 'DestinationDeliveryFailures',
      )
      .map((alarm) => alarm.Dimensions);

    // Assess
    expect(watched).toEqual(
      FAMILIES.map((family) => [{ Name: 'FunctionName', Value: ref(synthesized.stack.functions[family]) }]),
    );
    expect(
      alarms.filter((alarm) => alarm.MetricName === 'DestinationDeliveryFailures').every(firesOnTheFirst),
    ).toBe(true);
  });
});
