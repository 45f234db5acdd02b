import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_RETENTION_DAYS, IDEMPOTENCY_RECORD_DAYS } from '../../../shared/config/retention.ts';
import { MAX_ENTRY_BYTES, MAX_EVENT_BYTES } from '../../../shared/events/eventbridge-limits.ts';
import { PUBLISH_MARGIN_MS } from '../../../shared/events/time-budget.ts';
import { MIN_ATTEMPT_MS } from '../../../shared/tanium/retry-policy.ts';
import { REFUSED_LOGIN_MEMORY_MS } from '../../../shared/tanium/session-cache.ts';
import { PROGRESS_INTERVAL_MS } from '../../../shared/vault/archive-store.ts';
import { DEFAULTS as VAULT_DEFAULTS } from '../../../shared/vault/constants.ts';

// README ("The Tanium client", "Events, results and failures", "The vault") states these values, and
// playbooks and operators rely on them; no other test pins them to a literal. A change here must update
// the README too. The functions' documented sizes and limits are pinned in test/infra/environments.test.ts.
describe('Limits the README documents', () => {
  it.each([
    ['refused credentials are not sent again for a minute', REFUSED_LOGIN_MEMORY_MS, 60_000],
    ["a request is not sent with less than an attempt's time (1 s) left", MIN_ATTEMPT_MS, 1_000],
    ["EventBridge's 256 KiB entry", MAX_ENTRY_BYTES, 256 * 1024],
    ['a result larger than 255 KiB goes to the vault (dataRef)', MAX_EVENT_BYTES, 255 * 1024],
    ['result publishing stops 1 s before the timeout', PUBLISH_MARGIN_MS, 1_000],
    ['a DLQ keeps messages 14 days', DEAD_LETTER_RETENTION_DAYS, 14],
    ['idempotency records last 21 days', IDEMPOTENCY_RECORD_DAYS, 21],
    ['an archive may hold at most 1,000 entries', VAULT_DEFAULTS.maxArchiveEntries, 1_000],
    ['a get file still running logs its progress every 30 s', PROGRESS_INTERVAL_MS, 30_000],
  ])('%s', (_claim, actual, documented) => {
    expect(actual).toBe(documented);
  });
});
