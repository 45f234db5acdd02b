import { describe, expect, it } from 'vitest';
import {
  MAX_BUS_POLICY_CHARS,
  MAX_ENVIRONMENT_BYTES,
  MAX_EVENT_PATTERN_CHARS,
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
