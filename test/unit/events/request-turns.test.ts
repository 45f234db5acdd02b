import { describe, expect, it } from 'vitest';
import { RequestTurns } from '../../../shared/events/request-turns.ts';

describe('RequestTurns', () => {
  it('runs the work of one request in order, and of other requests at once', async () => {
    // Prepare
    const turns = new RequestTurns();
    const events: string[] = [];
    let finishFirst: () => void = () => undefined;

    // Act
    const first = turns.run('req-a', async () => {
      events.push('a1 start');
      await new Promise<void>((resolve) => (finishFirst = resolve));
      events.push('a1 end');
    });
    const second = turns.run('req-a', async () => void events.push('a2'));
    const other = turns.run('req-b', async () => void events.push('b'));
    await other;
    finishFirst();
    await Promise.all([first, second]);

    // Assess
    expect(events).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('still runs the next work of a request when the one before it failed', async () => {
    // Prepare
    const turns = new RequestTurns();

    // Act
    const failed = turns.run('req-a', async () => {
      throw new Error('boom');
    });
    const next = turns.run('req-a', async () => 'ran');

    // Assess: the failure reaches its own caller only
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });
});
