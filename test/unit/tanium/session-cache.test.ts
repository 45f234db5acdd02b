import { beforeEach, describe, expect, it } from 'vitest';
import {
  clearSessionCache,
  MAX_REMEMBERED_CREDENTIALS,
  sessionEntry,
  tokenReplayEnded,
  tokenReplayStarted,
} from '../../../shared/tanium/session-cache.ts';

describe('Session cache', () => {
  beforeEach(() => {
    clearSessionCache();
  });

  it('keeps one entry per credential in use, the same for every client of it', () => {
    // Act
    const first = sessionEntry('fingerprint-a');
    const again = sessionEntry('fingerprint-a');
    const other = sessionEntry('fingerprint-b');

    // Assess
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it('forgets the credentials a warm container rotated away from, least recently used first', () => {
    // Prepare: a long-lived container whose secret was rotated 100 times, the first credential still in use
    const kept = sessionEntry('rotation-0');
    kept.issued.add('session-of-rotation-0');
    const rotated = Array.from({ length: 100 }, (_, rotation) => {
      sessionEntry('rotation-0');
      return sessionEntry(`rotation-${rotation + 1}`);
    });

    // Act: ask again for the newest credential, the one used all along, and the first rotated away from
    const newest = sessionEntry('rotation-100');
    const usedAllAlong = sessionEntry('rotation-0');
    const firstRotated = sessionEntry('rotation-1');

    // Assess: the rotated-away credential starts afresh, its sessions forgotten; the others kept theirs
    expect(MAX_REMEMBERED_CREDENTIALS).toBe(4);
    expect(newest).toBe(rotated[99]);
    expect(usedAllAlong).toBe(kept);
    expect(kept.issued).toEqual(new Set(['session-of-rotation-0']));
    expect(firstRotated).not.toBe(rotated[0]);
    expect(firstRotated.issued.size).toBe(0);
  });

  it('counts only the replays with the latest token session, so that its own last one decides', () => {
    // Prepare: a replay with session-a still runs when a later token refusal replays with session-b
    const entry = sessionEntry('fingerprint-a');
    tokenReplayStarted(entry, 'session-a');
    tokenReplayStarted(entry, 'session-b');

    // Act: the replay with session-a ends, then the one with session-b, neither getting past the refusal
    const endedA = tokenReplayEnded(entry, 'session-a', false);
    const whileBRuns = entry.tokenSession;
    const endedB = tokenReplayEnded(entry, 'session-b', false);

    // Assess: session-a's end says nothing of session-b, which token refusals keep sharing; once its own
    // replay ends unbeaten, nothing says it beats the token, and the next refusal logs in afresh
    expect(whileBRuns).toBe('session-b');
    expect(entry.tokenSession).toBeUndefined();
    expect([endedA, endedB, entry.tokenRejected]).toEqual([false, false, false]);
  });
});
