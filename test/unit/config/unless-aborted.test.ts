import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { unlessAborted } from '../../../shared/config/unless-aborted.ts';

describe('unlessAborted', () => {
  it("rejects with the signal's reason at once when the signal was aborted already", async () => {
    // Prepare: work that would succeed, and a signal aborted before the call
    const controller = new AbortController();
    const reason = new Error('deadline');
    controller.abort(reason);

    // Act
    const result = unlessAborted(Promise.resolve('done'), controller.signal);

    // Assess
    await expect(result).rejects.toBe(reason);
  });

  it('rejects when the signal is aborted while the work runs', async () => {
    // Prepare
    const controller = new AbortController();
    const reason = new Error('deadline');
    const result = unlessAborted(new Promise<never>(() => undefined), controller.signal);

    // Act
    controller.abort(reason);

    // Assess
    await expect(result).rejects.toBe(reason);
  });

  it.each([
    ['succeeds', () => Promise.resolve('done')],
    ['fails', () => Promise.reject(new Error('refused'))],
  ])('stops listening to a shared signal once the work %s', async (_case, work) => {
    // Prepare: one signal every request of an invocation listens to
    const controller = new AbortController();

    // Act
    await unlessAborted(work(), controller.signal).catch(() => undefined);

    // Assess
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
