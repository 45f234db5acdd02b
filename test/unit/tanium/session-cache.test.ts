import { beforeEach, describe, expect, it } from 'vitest';
import {
  clearSessionCache,
  MAX_REMEMBERED_CREDENTIALS,
  MAX_REMEMBERED_SESSIONS,
  rememberSession,
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

  it.each([
    {
      case: 'another replay with the session still runs',
      started: ['session-a', 'session-a'],
      rejected: false,
      ended: [['session-a', false]],
      returned: [false],
      tokenSession: 'session-a',
      tokenRejected: false,
    },
    {
      // The one replay that beats the token sets it aside, once; the session stays the one refusals share
      case: 'two replays got past the refusal',
      started: ['session-a', 'session-a'],
      rejected: false,
      ended: [
        ['session-a', true],
        ['session-a', true],
      ],
      returned: [true, false],
      tokenSession: 'session-a',
      tokenRejected: true,
    },
    {
      // The token is set aside for good, so the session that beat it must stay for the next refusal
      case: 'the token was already set aside',
      started: ['session-a'],
      rejected: true,
      ended: [['session-a', false]],
      returned: [false],
      tokenSession: 'session-a',
      tokenRejected: true,
    },
    {
      case: 'a replay with an older session got past the refusal',
      started: ['session-a', 'session-b'],
      rejected: false,
      ended: [['session-a', true]],
      returned: [true],
      tokenSession: 'session-b',
      tokenRejected: true,
    },
  ] as const)(
    'keeps the token session and says who set the token aside when $case',
    ({ started, rejected, ended, returned, tokenSession, tokenRejected }) => {
      // Prepare
      const entry = sessionEntry('fingerprint-a');
      entry.tokenRejected = rejected;
      for (const session of started) tokenReplayStarted(entry, session);

      // Act
      const results = ended.map(([session, beaten]) => tokenReplayEnded(entry, session, beaten));

      // Assess
      expect(results).toEqual(returned);
      expect(entry.tokenSession).toBe(tokenSession);
      expect(entry.tokenRejected).toBe(tokenRejected);
    },
  );

  it('remembers the latest sessions issued for redaction, a session issued again counting as new', () => {
    // Prepare: one more session than remembered, then the second one again
    const entry = sessionEntry('fingerprint-a');
    const sessions = Array.from({ length: MAX_REMEMBERED_SESSIONS + 1 }, (_, i) => `session-${i + 1}`);
    for (const session of sessions) rememberSession(entry, session);

    // Act
    rememberSession(entry, 'session-2');
    rememberSession(entry, 'session-10');

    // Assess: the oldest go first; the one issued again outlived those issued after it the first time
    expect(MAX_REMEMBERED_SESSIONS).toBe(8);
    expect([...entry.issued]).toEqual([
      'session-4',
      'session-5',
      'session-6',
      'session-7',
      'session-8',
      'session-9',
      'session-2',
      'session-10',
    ]);
  });

  it('starts every credential afresh once the cache is cleared', () => {
    // Prepare: an entry that learnt something
    const before = sessionEntry('fingerprint-a');
    before.tokenRejected = true;
    rememberSession(before, 'session-a');
    tokenReplayStarted(before, 'session-a');

    // Act
    clearSessionCache();
    const after = sessionEntry('fingerprint-a');

    // Assess
    expect(after).not.toBe(before);
    expect(after).toEqual({ tokenRejected: false, tokenSessionReplays: 0, issued: new Set() });
  });
});
