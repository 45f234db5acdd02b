import { describe, expect, it } from 'vitest';
import { RequestTurns } from '../../../shared/events/request-turns.ts';

describe('RequestTurns', () => {
  it('runs the work of one request in order, and of other requests at once', async () => {
    // Prepare
    const turns = new RequestTurns<void>();
    const events: string[] = [];
    let finishFirst: () => void = () => undefined;

    // Act
    const first = turns.run('req-a', 'copy', async () => {
      events.push('a1 start');
      await new Promise<void>((resolve) => (finishFirst = resolve));
      events.push('a1 end');
    });
    const second = turns.run('req-a', 'copy', async () => void events.push('a2'));
    const other = turns.run('req-b', 'copy', async () => void events.push('b'));
    await other;
    finishFirst();
    await Promise.all([first, second]);

    // Assess
    expect(events).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('still runs the next work of a request when the one before it failed', async () => {
    // Prepare
    const turns = new RequestTurns<string>();

    // Act
    const failed = turns.run('req-a', 'copy', async () => {
      throw new Error('boom');
    });
    const next = turns.run('req-a', 'copy', async ({ copies }) => `ran after [${copies.join()}]`);

    // Assess: the failure reaches its own caller only, and the next turn sees no outcome of it
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran after []');
  });

  it('tells each turn how the earlier copies of its request ended, whether others came first, and whether a later copy waits', async () => {
    // Prepare
    const turns = new RequestTurns<string>();
    const seen: string[] = [];
    const work =
      (name: string) =>
      async ({
        copies,
        behindOthers,
        later,
      }: {
        copies: string[];
        behindOthers: boolean;
        later: () => boolean;
      }) => {
        seen.push(`${name}: copies [${copies.join()}], behind ${behindOthers}, later ${later()}`);
        return name;
      };

    // Act: under record a, a2 is another request (other parameters); a3 and a4 are copies of a1
    const runs = [
      turns.run('record a', 'close 1', work('a1')),
      turns.run('record b', 'close 1', work('b1')),
      turns.run('record a', 'close 2', work('a2')),
      turns.run('record a', 'close 1', work('a3')),
      turns.run('record a', 'close 1', work('a4')),
    ];
    await Promise.all(runs);

    // Assess
    expect(seen).toEqual([
      'a1: copies [], behind false, later true',
      'b1: copies [], behind false, later false',
      'a2: copies [], behind true, later false',
      'a3: copies [a1], behind true, later true',
      'a4: copies [a1,a3], behind true, later false',
    ]);
  });
});
