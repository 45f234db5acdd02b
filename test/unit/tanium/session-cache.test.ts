import { beforeEach, describe, expect, it } from 'vitest';
import {
  clearSessionCache,
  MAX_REMEMBERED_CREDENTIALS,
  sessionEntry,
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
});
