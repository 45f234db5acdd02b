import { setImmediate } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { abortWindow } from '../../../shared/events/time-budget.ts';

describe('Time budget: the abort window of an invocation', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  afterEach(() => {
    process.off('warning', onWarning);
    warnings.length = 0;
  });

  it('lets every call of a batch listen to it at once without a listener-leak warning', async () => {
    // Prepare: ten records storing results in the vault at once, two abort listeners each (the
    // publisher's and the SDK's)
    process.on('warning', onWarning);
    const window = abortWindow(60_000, () => new Error('out of time'));

    // Act
    const listeners = Array.from({ length: 20 }, () => () => {});
    for (const listener of listeners) window.signal.addEventListener('abort', listener);
    await setImmediate();

    // Assess: Node warns through the process (on a later tick) past 10 listeners by default
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
    for (const listener of listeners) window.signal.removeEventListener('abort', listener);
    window.close();
  });

  it('aborts with the reason once its time is up, not before, and not after it is closed', async () => {
    // Prepare
    const ended = abortWindow(0, () => new Error('out of time'));
    const closed = abortWindow(0, () => new Error('never'));
    const running = abortWindow(60_000, () => new Error('too early'));
    closed.close();

    // Act
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Assess
    expect(ended.signal.aborted).toBe(true);
    expect(ended.signal.reason).toEqual(new Error('out of time'));
    expect(closed.signal.aborted).toBe(false);
    expect(running.signal.aborted).toBe(false);
    running.close();
  });
});
