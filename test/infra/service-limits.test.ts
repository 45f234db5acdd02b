import { Stack } from 'aws-cdk-lib';
import { CfnEventBus, CfnRule } from 'aws-cdk-lib/aws-events';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  MAX_BUS_POLICY_CHARS,
  MAX_ENVIRONMENT_BYTES,
  MAX_EVENT_PATTERN_CHARS,
  serviceLimitProblems,
} from '../../infra/service-limits.ts';
import { cleanup, type Synthesized, synthesize } from './synth.ts';

/** The synthesis error for `overrides`, or '' when the stack synthesizes. */
function synthesisError(overrides: Parameters<typeof synthesize>[1]): string {
  let synthesized: Synthesized | undefined;
  try {
    synthesized = synthesize('dev', overrides, { bundling: false });
    return '';
  } catch (error) {
    return (error as Error).message;
  } finally {
    cleanup(synthesized);
  }
}

/** A value a bus policy or an environment variable may hold, and what the check counts it as. */
const MEASURED: Array<[string, unknown, unknown]> = [
  ['a plain string as it is', 'events:PutEvents', 'events:PutEvents'],
  ['a reference to a resource at 256 characters', { Ref: 'Queue1' }, 'x'.repeat(256)],
  ['the partition at its longest', { Ref: 'AWS::Partition' }, 'aws-us-gov'],
  ['the region at its longest', { Ref: 'AWS::Region' }, 'us-isof-south-1'],
  ['the account id', { Ref: 'AWS::AccountId' }, '123456789012'],
  ['the URL suffix at its longest', { Ref: 'AWS::URLSuffix' }, 'amazonaws.com.cn'],
  ['an attribute at 256 characters', { 'Fn::GetAtt': ['Queue1', 'Arn'] }, 'x'.repeat(256)],
  ['a name of a reference as a string', { Ref: ['AWS::Region'] }, 'x'.repeat(256)],
  [
    'a join joined, its parts measured',
    { 'Fn::Join': ['::', ['arn', { Ref: 'AWS::Partition' }, { Ref: 'Queue1' }]] },
    `arn::aws-us-gov::${'x'.repeat(256)}`,
  ],
  // A list in its second argument makes no join of it: only Fn::Join's parts are joined.
  ['a selection at 256 characters', { 'Fn::Select': [0, ['a', 'b']] }, 'x'.repeat(256)],
  ['a join of something else at 256 characters', { 'Fn::Join': ['', { Ref: 'List1' }] }, 'x'.repeat(256)],
  ['each item of a list', [{ Ref: 'AWS::AccountId' }, 'a'], ['123456789012', 'a']],
  [
    'an object of more than one key as an object',
    { Ref: 'Queue1', Other: { Ref: 'AWS::AccountId' } },
    { Ref: 'Queue1', Other: '123456789012' },
  ],
  ['a key that only starts like a function as a key', { 'Fn:Join': 'a' }, { 'Fn:Join': 'a' }],
  ['a number as it is', 7, 7],
];

/** Padding that takes `measured` (the check's view of a value) to exactly `limit` with `wrap`. */
function paddingTo(limit: number, wrap: (value: unknown, pad: string) => unknown, measured: unknown) {
  return limit - Buffer.byteLength(JSON.stringify(wrap(measured, '')));
}

describe('Service limits: what the check measures', () => {
  it("refuses an event pattern of one character over EventBridge's quota, naming the rule", () => {
    // Prepare: `{"source":["…"]}` is 15 characters around the source.
    const rules = (chars: number) => {
      const stack = new Stack();
      new CfnRule(stack, 'Rule', { eventPattern: { source: ['s'.repeat(chars - 15)] } });
      return serviceLimitProblems(stack);
    };

    // Act & Assess
    expect(rules(MAX_EVENT_PATTERN_CHARS)).toEqual([]);
    expect(rules(MAX_EVENT_PATTERN_CHARS + 1)).toEqual([
      expect.stringMatching(new RegExp(`^Default/Rule: .*\\b${MAX_EVENT_PATTERN_CHARS + 1} characters`)),
    ]);
  });

  it.each(MEASURED)('counts in a bus policy %s', (_case, value, measured) => {
    // Prepare
    const wrap = (statement: unknown, pad: string) => ({ Statement: [statement], Sid: pad });
    const pad = paddingTo(MAX_BUS_POLICY_CHARS, wrap, measured);
    const problems = (padding: number) => {
      const stack = new Stack();
      new CfnEventBus(stack, 'Bus', { name: 'bus', policy: wrap(value, 'p'.repeat(padding)) });
      return serviceLimitProblems(stack);
    };

    // Act & Assess: exactly at the quota passes, one character more does not
    expect(problems(pad)).toEqual([]);
    expect(problems(pad + 1)).toEqual([
      expect.stringMatching(new RegExp(`^Default/Bus: .*\\b${MAX_BUS_POLICY_CHARS + 1} characters`)),
    ]);
  });

  it.each(MEASURED)('counts in environment variables %s', (_case, value, measured) => {
    // Prepare
    const wrap = (variable: unknown, pad: string) => ({ A: variable, B: pad });
    const pad = paddingTo(MAX_ENVIRONMENT_BYTES, wrap, measured);
    const problems = (padding: number) => {
      const stack = new Stack();
      new CfnFunction(stack, 'Fn', {
        code: { zipFile: 'x' },
        role: 'role',
        environment: { variables: wrap(value, 'p'.repeat(padding)) as Record<string, string> },
      });
      return serviceLimitProblems(stack);
    };

    // Act & Assess
    expect(problems(pad)).toEqual([]);
    expect(problems(pad + 1)).toEqual([
      expect.stringMatching(new RegExp(`^Default/Fn: .*\\b${MAX_ENVIRONMENT_BYTES + 1} bytes`)),
    ]);
  });

  it('counts environment variables in bytes, not characters', () => {
    // Prepare: `{"A":"…"}` is 8 bytes around the value; each é takes two.
    const stack = new Stack();
    new CfnFunction(stack, 'Fn', {
      code: { zipFile: 'x' },
      role: 'role',
      environment: { variables: { A: 'é'.repeat((MAX_ENVIRONMENT_BYTES - 8) / 2 + 1) } },
    });

    // Act & Assess
    expect(serviceLimitProblems(stack)).toHaveLength(1);
  });

  it('passes a rule without a pattern, a bus without a policy and a function without variables', () => {
    // Prepare
    const stack = new Stack();
    new CfnRule(stack, 'Schedule', { scheduleExpression: 'rate(1 minute)' });
    new CfnEventBus(stack, 'Bus', { name: 'bus' });
    new CfnFunction(stack, 'Fn', { code: { zipFile: 'x' }, role: 'role' });

    // Act & Assess
    expect(serviceLimitProblems(stack)).toEqual([]);
  });

  it('reports every resource over its limit', () => {
    // Prepare
    const stack = new Stack();
    new CfnRule(stack, 'Rule', { eventPattern: { source: ['s'.repeat(MAX_EVENT_PATTERN_CHARS)] } });
    new CfnEventBus(stack, 'Bus', { name: 'bus', policy: { Sid: 'p'.repeat(MAX_BUS_POLICY_CHARS) } });
    new CfnFunction(stack, 'Fn', {
      code: { zipFile: 'x' },
      role: 'role',
      environment: { variables: { A: 'a'.repeat(MAX_ENVIRONMENT_BYTES) } },
    });

    // Act & Assess
    expect(serviceLimitProblems(stack).map((problem) => problem.split(':')[0])).toEqual([
      'Default/Rule',
      'Default/Bus',
      'Default/Fn',
    ]);
  });
});

// A file's first synthesis loads most of the CDK: about 10 s alone, and past the default timeout when
// the whole suite shares the cores.
describe('Stack: limits AWS enforces only at deploy time', { timeout: 120_000 }, () => {
  it('refuses request sources that make a rule pattern longer than EventBridge takes', () => {
    // Act: 45 sources of 30 characters take the unrouted-requests rule over the limit
    const sources = Array.from({ length: 45 }, (_, i) => `soar.pipeline.${String(i).padStart(15, '0')}`);
    const error = synthesisError({ requestSources: sources });

    // Assess
    expect(error).toMatch(
      new RegExp(
        `UnroutedRequests\\S*: its event pattern is \\d+ characters, over EventBridge's ${MAX_EVENT_PATTERN_CHARS}`,
      ),
    );
  });

  it('refuses poller settings that make its environment larger than Lambda takes', () => {
    // Act: two text settings near their own 2,048-character limit
    const error = synthesisError({
      poller: {
        settings: { filterQuery: `hostname=${'a'.repeat(2000)}`, filterIntelDocId: '7'.repeat(2000) },
      },
    });

    // Assess
    expect(error).toMatch(
      new RegExp(
        `AlertPoller\\S*: its environment variables take about \\d+ bytes, over Lambda's ${MAX_ENVIRONMENT_BYTES}`,
      ),
    );
  });

  it('refuses request sender accounts that make the bus policy larger than EventBridge takes', () => {
    // Act
    const accounts = Array.from({ length: 300 }, (_, i) => String(100_000_000_000 + i));
    const error = synthesisError({ requestSenderAccounts: accounts });

    // Assess
    expect(error).toMatch(
      new RegExp(
        `Bus\\S*: its resource policy is about \\d+ characters, over EventBridge's ${MAX_BUS_POLICY_CHARS}`,
      ),
    );
  });

  it.each<[string, Parameters<typeof synthesize>[1]]>([
    ['as declared', {}],
    ['with two request sources', { requestSources: ['soar.pipeline', 'soar.backup'] }],
    // Each account is about 40 characters of policy: 150 of them are well within it
    [
      'with 150 request sender accounts',
      { requestSenderAccounts: Array.from({ length: 150 }, (_, i) => String(100_000_000_000 + i)) },
    ],
  ])('synthesizes an environment within the limits %s', (_case, overrides) => {
    expect(synthesisError(overrides)).toBe('');
  });
});
