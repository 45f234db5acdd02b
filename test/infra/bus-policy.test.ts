import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../infra/environments.ts';
import { problemsOf } from './problems.ts';
import { cleanup, type Synthesized, synthesize } from './synth.ts';

interface Statement {
  Sid?: string;
  Effect: string;
  Principal: unknown;
  Action: unknown;
  Resource: unknown;
}

function busStatements(synthesized: Synthesized): Statement[] {
  const resources = synthesized.template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: { Policy?: { Statement: Statement[] } } }
  >;
  const bus = Object.values(resources).find((resource) => resource.Type === 'AWS::Events::EventBus');
  return bus?.Properties.Policy?.Statement ?? [];
}

describe('Bus policy: request senders in other accounts', () => {
  let synthesized: Synthesized;

  beforeAll(() => {
    synthesized = synthesize(
      'dev',
      { account: '111122223333', requestSenderAccounts: ['444455556666', '777788889999'] },
      { bundling: false },
    );
  });
  afterAll(() => cleanup(synthesized));

  it('lets the declared accounts put events on the bus, beside the deny on forged results and alerts', () => {
    // Act
    const statements = busStatements(synthesized);

    // Assess: the deny still comes first and still covers them (results and alerts stay the functions')
    expect(statements.map((statement) => [statement.Sid, statement.Effect])).toEqual([
      ['OnlyTheFunctionsPublishResultsAndAlerts', 'Deny'],
      ['RequestSenderAccounts', 'Allow'],
    ]);
    expect(statements[1]).toMatchObject({
      Principal: {
        AWS: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::444455556666:root']] },
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::777788889999:root']] },
        ],
      },
      Action: 'events:PutEvents',
      Resource: statements[0]?.Resource,
    });
  });

  it('refuses an account id that is not one, or the stack’s own account, naming it', () => {
    // Act
    const problems = problemsOf(() =>
      resolveEnvironment('dev', {
        account: '111122223333',
        requestSenderAccounts: ['4444', '111122223333', '444455556666', '444455556666', '444455556666'],
      }),
    );

    // Assess
    expect(problems).toContain("requestSenderAccounts: '4444' is not a 12-digit AWS account id");
    expect(problems).toContain("requestSenderAccounts: '111122223333' is the stack's own account");
    expect(problems.split("'444455556666' is listed more than once")).toHaveLength(2);
  });
});
