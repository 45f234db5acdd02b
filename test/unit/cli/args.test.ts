import { describe, expect, it } from 'vitest';
import { parseRunArgs, UsageError } from '../../../cli/args.ts';

describe('tanium-tr run arguments', () => {
  it('takes --timeout as a whole number of seconds, given as a separate word or after =', () => {
    // Act / Assess
    expect(parseRunArgs(['list connections', '--timeout', '30']).timeoutSeconds).toBe(30);
    expect(parseRunArgs(['list connections', '--timeout=45']).timeoutSeconds).toBe(45);
  });

  it.each(['0x10', '1e2', '30s', '', ' 30'])(
    'refuses --timeout=%j, which is no plain number of seconds',
    (value) => {
      // Act / Assess
      expect(() => parseRunArgs(['list connections', `--timeout=${value}`])).toThrow(UsageError);
    },
  );
});
