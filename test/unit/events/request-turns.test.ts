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
    const next = turns.run('req-a', 'copy', async ({ previous }) => `ran after ${previous}`);

    // Assess: the failure reaches its own caller only
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran after undefined');
  });

  it("tells each turn what the requestId's previous one ended with, and whether a later copy of the same request waits", async () => {
    // Prepare
    const turns = new RequestTurns<string>();
    const seen: string[] = [];
    const work =
      (name: string) =>
      async ({
        previous,
        earlier,
        later,
      }: {
        previous: string | undefined;
        earlier: boolean;
        later: () => boolean;
      }) => {
        seen.push(`${name}: after ${previous}, earlier ${earlier}, later ${later()}`);
        return name;
      };

    // Act: a2 reuses a1's requestId for another request; a3 is a copy of a1
    const runs = [
      turns.run('req-a', 'close 1', work('a1')),
      turns.run('req-b', 'close 1', work('b1')),
      turns.run('req-a', 'close 2', work('a2')),
      turns.run('req-a', 'close 1', work('a3')),
    ];
    await Promise.all(runs);

    // Assess
    expect(seen).toEqual([
      'a1: after undefined, earlier false, later true',
      'b1: after undefined, earlier false, later false',
      'a2: after a1, earlier true, later false',
      'a3: after a2, earlier true, later false',
    ]);
  });
});
