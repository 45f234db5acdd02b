import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ALERT_DETAIL_TYPE,
  ALERT_SOURCE,
  alertDetail,
  alertEntry,
  DETAILS_OMITTED,
  REFUSED_OMITTED,
  reducedAlertEntry,
  shownAlertId,
  shownScalar,
  UNSERIALISABLE_OMITTED,
} from '../../../shared/alerts/alert-event.ts';
import { entrySize, MAX_ENTRY_BYTES, MAX_EVENT_BYTES } from '../../../shared/events/eventbridge-limits.ts';

const processDetails = JSON.stringify({
  match: {
    type: 'process',
    properties: {
      fullpath: 'C:\\Windows\\System32\\test.exe',
      md5: '9dd4e461268c8034f5c8564e155c67a6',
      file: {
        fullpath: 'C:\\Windows\\System32\\test.exe',
        md5: 'ffffffffffffffffffffffffffffffff',
        sha1: '11f6ad8ec52a2984abaafd7c3b516503785c2072',
        sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
      },
    },
  },
});

describe('Alert event: detail', () => {
  it('parses details and derives path, hashes and event type (md5 from the match, never the path)', () => {
    // Act
    const detail = alertDetail({
      id: 1,
      guid: 'g',
      createdAt: '2024-01-15T10:00:00.000Z',
      details: processDetails,
    });
    // Assess
    expect(detail).toMatchObject({
      id: 1,
      guid: 'g',
      path: 'C:\\Windows\\System32\\test.exe',
      event_type: 'process',
      md5: '9dd4e461268c8034f5c8564e155c67a6',
      sha1: '11f6ad8ec52a2984abaafd7c3b516503785c2072',
      sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
    });
    expect(detail.details).toEqual(JSON.parse(processDetails));
    expect(detail).not.toHaveProperty('details_error');
  });

  it('takes path and md5 from the nested file for a file match', () => {
    // Act
    const detail = alertDetail({
      id: 2,
      details: JSON.stringify({
        match: { type: 'file', properties: { file: { fullpath: '/home/dev/x.sh', md5: 'abc' } } },
      }),
    });
    // Assess
    expect(detail).toMatchObject({ path: '/home/dev/x.sh', md5: 'abc', event_type: 'file' });
    expect(detail).not.toHaveProperty('sha1');
  });

  it('keeps an alert with unreadable details, with the raw text and the reason', () => {
    // Act
    const detail = alertDetail({ id: 3, details: '{"match":' });
    // Assess
    expect(detail).toMatchObject({
      id: 3,
      details: null,
      details_raw: '{"match":',
      path: '',
      event_type: '',
    });
    expect(String(detail.details_error)).toMatch(/^Unable to parse details: /);
  });

  it('adds the intel doc name when given', () => {
    // Act
    const detail = alertDetail({ id: 4, intelDocId: 11, details: processDetails }, 'Mimikatz');
    // Assess
    expect(detail.intelDocName).toBe('Mimikatz');
  });

  it.for([
    ['missing', {}],
    ['null', { details: null }],
  ] as const)(
    'sets details null with no raw text when they are %s, and no intel doc name when none is given',
    ([_case, fields]) => {
      // Act
      const detail = alertDetail({ id: 5, ...fields });
      // Assess: consumers matching on detail.details_raw see only text Tanium sent
      expect(detail.details).toBeNull();
      expect(Object.keys(detail)).not.toContain('details_raw');
      expect(Object.keys(detail)).not.toContain('intelDocName');
    },
  );
});

describe('Alert event: entry', () => {
  it('uses the contract source and detail type', () => {
    // Act
    const entry = alertEntry({ id: 1 });
    // Assess
    // Strictly: without a bus of its own the entry carries no EventBusName key at all
    expect(entry).toStrictEqual({ Source: ALERT_SOURCE, DetailType: ALERT_DETAIL_TYPE, Detail: '{"id":1}' });
    // The same size rule as result events, with the 14 bytes EventBridge counts for the time field
    expect(entrySize(entry)).toBe(14 + ALERT_SOURCE.length + ALERT_DETAIL_TYPE.length + 8);
  });

  it('takes the source, detail type and bus it is given', () => {
    // Act
    const entry = alertEntry({ id: 1 }, { source: 's', detailType: 'd', eventBusName: 'b' });
    // Assess
    expect(entry).toEqual({ Source: 's', DetailType: 'd', Detail: '{"id":1}', EventBusName: 'b' });
  });

  it('escapes U+FFFE and U+FFFF from the endpoint, which an SQS target would refuse, keeping their meaning', () => {
    // Prepare: a file name on the endpoint may hold either
    const alert = {
      id: 1,
      details: '{"match":{"properties":{"fullpath":"C:\\\\x\uFFFF.exe"}}}',
      note: '\uFFFE',
    };

    // Act
    const entry = alertEntry(alert);

    // Assess
    expect(entry.Detail).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(JSON.parse(entry.Detail)).toEqual(alert);
  });

  it('drops details from an alert that fits a PutEvents entry but not the room a target needs', () => {
    // Prepare: an entry 512 bytes under EventBridge's limit, inside the 1 KiB left for the envelope
    const small = alertEntry({ id: 6, guid: 'g6', path: 'p', details: { blob: '' } });
    const blob = 'x'.repeat(MAX_ENTRY_BYTES - 512 - entrySize(small));

    // Act
    const entry = alertEntry({ id: 6, guid: 'g6', path: 'p', details: { blob } });

    // Assess
    expect(JSON.parse(entry.Detail)).toMatchObject({
      id: 6,
      details: null,
      details_omitted: DETAILS_OMITTED,
    });
  });

  it('keeps the details of an alert exactly the size a target takes', () => {
    // Prepare
    const small = alertEntry({ id: 9, details: { blob: '' } });
    const blob = 'x'.repeat(MAX_EVENT_BYTES - entrySize(small));

    // Act
    const entry = alertEntry({ id: 9, details: { blob } });

    // Assess
    expect(entrySize(entry)).toBe(MAX_EVENT_BYTES);
    expect(JSON.parse(entry.Detail)).toEqual({ id: 9, details: { blob } });
  });

  it('keeps every other field of an alert that fits exactly without its details', () => {
    // Prepare: a field outside the identifying ones, sized so the alert without details is the limit
    const lighter = { id: 9, note: '', details: null, details_omitted: DETAILS_OMITTED };
    const room = entrySize({
      Source: ALERT_SOURCE,
      DetailType: ALERT_DETAIL_TYPE,
      Detail: JSON.stringify(lighter),
    });
    const note = 'x'.repeat(MAX_EVENT_BYTES - room);

    // Act
    const entry = alertEntry({ id: 9, note, details: { blob: 'y'.repeat(100) } });

    // Assess
    expect(entrySize(entry)).toBe(MAX_EVENT_BYTES);
    expect(JSON.parse(entry.Detail)).toEqual({ ...lighter, note });
  });

  it('drops details from an alert too big for one PutEvents call, keeping the identifying fields', () => {
    // Prepare
    const huge = { match: { type: 'process', blob: 'x'.repeat(MAX_ENTRY_BYTES) } };
    // Act
    const entry = alertEntry({ id: 5, guid: 'g5', path: 'p', details: huge, details_raw: undefined });
    // Assess
    expect(entrySize(entry)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(JSON.parse(entry.Detail)).toEqual({
      id: 5,
      guid: 'g5',
      path: 'p',
      details: null,
      details_omitted: DETAILS_OMITTED,
    });
  });
});

describe('Alert event: values too deep to serialise', () => {
  /** Valid JSON that JSON.parse reads and JSON.stringify overflows the stack on. */
  const deep = (depth: number) => JSON.parse(`{"match":${'['.repeat(depth)}${']'.repeat(depth)}}`) as unknown;

  it('publishes an alert whose details nest too deep to write, without them', () => {
    // Prepare
    const detail = {
      id: 6,
      guid: 'g6',
      createdAt: '2026-12-05T00:00:00Z',
      path: 'p',
      details: deep(100_000),
    };
    // Act
    const entry = alertEntry(detail);
    // Assess
    expect(JSON.parse(entry.Detail)).toEqual({
      id: 6,
      guid: 'g6',
      createdAt: '2026-12-05T00:00:00Z',
      path: 'p',
      details: null,
      details_omitted: UNSERIALISABLE_OMITTED,
    });
  });

  it('keeps only the scalar identifying fields when another field nests too deep', () => {
    // Prepare: every field of an alert passes through as Tanium sent it
    const detail = { id: 7, guid: { nested: deep(100_000) }, state: 'unresolved', extra: deep(100_000) };
    // Act
    const entry = alertEntry(detail);
    // Assess
    expect(JSON.parse(entry.Detail)).toEqual({
      id: 7,
      state: 'unresolved',
      details: null,
      details_omitted: UNSERIALISABLE_OMITTED,
    });
  });

  it('bounds the identifying fields of a reduced entry so it always fits', () => {
    // Prepare: an alert too big even without its details, its identifying fields long text
    const long = 'x'.repeat(MAX_ENTRY_BYTES);
    const detail = { id: 8, computerName: long, path: long, extra: long };
    // Act
    const entry = alertEntry(detail);
    // Assess
    expect(entrySize(entry)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(JSON.parse(entry.Detail)).toEqual({
      id: 8,
      computerName: 'x'.repeat(1024),
      path: 'x'.repeat(1024),
      details: null,
      details_omitted: DETAILS_OMITTED,
    });
  });
});

describe('Alert event: cutting identifying fields', () => {
  it('keeps the scalar identifying fields of a reduced entry, null and booleans included, and no other', () => {
    // Prepare
    const detail = { id: 0, guid: null, state: false, priority: 'high', severity: { level: 3 }, note: 'n' };

    // Act
    const entry = reducedAlertEntry(detail, REFUSED_OMITTED, { source: 's', detailType: 'd' });

    // Assess
    expect(entry).toMatchObject({ Source: 's', DetailType: 'd' });
    expect(JSON.parse(entry.Detail)).toEqual({
      id: 0,
      guid: null,
      state: false,
      priority: 'high',
      details: null,
      details_omitted: REFUSED_OMITTED,
    });
  });

  it('cuts a long field of a reduced entry between whole characters, never through a surrogate pair', () => {
    // Prepare: the 1,024th UTF-16 unit is the first half of an emoji
    const path = `${'a'.repeat(1023)}\u{1F600}tail`;

    // Act
    const entry = reducedAlertEntry({ id: 1, path }, REFUSED_OMITTED);

    // Assess
    expect(entry.Detail).not.toMatch(/\\ud83d/i);
    expect((JSON.parse(entry.Detail) as { path: string }).path).toBe('a'.repeat(1023));
  });

  it('logs a long id cut as the reduced entry cuts it, with no lone surrogate', () => {
    // Prepare
    const id = `${'a'.repeat(1023)}\u{1F600}b`;

    // Act
    const logged = shownAlertId(id);

    // Assess
    expect(logged).toBe('a'.repeat(1023));
    expect(logged).toBe((JSON.parse(reducedAlertEntry({ id }, REFUSED_OMITTED).Detail) as { id: string }).id);
  });
});

describe('Alert event: ids in log lines', () => {
  it('logs an id as a reduced event carries it, so the event is found by its id', () => {
    // Prepare: longer than a reduced event keeps, with a character of two UTF-16 units at the cut
    const id = `${'a'.repeat(1023)}\u{1F600}b`;

    // Act
    const entry = reducedAlertEntry({ id, guid: 'g' }, REFUSED_OMITTED);

    // Assess
    expect(shownAlertId(id)).toBe((JSON.parse(entry.Detail ?? '{}') as { id: string }).id);
    expect(shownAlertId({ nested: true })).toBeUndefined();
    expect(shownAlertId(42)).toBe(42);
  });

  it('logs a value Tanium sent cut to what a message shows, and only a scalar', () => {
    // Act / Assess: a createdAt of megabytes would make a log line CloudWatch splits
    expect(shownScalar('x'.repeat(5000))).toBe(`${'x'.repeat(200)}…`);
    expect(shownScalar('2026-12-05T00:00:00Z')).toBe('2026-12-05T00:00:00Z');
    expect(shownScalar(1733356800000)).toBe(1733356800000);
    expect(shownScalar(null)).toBeNull();
    expect(shownScalar({ at: 'noon' })).toBeUndefined();
  });
});

describe('Alert event: omitted details', () => {
  // Rules and consumers match on these texts (the README lists them, and a `prefix` on `details omitted`
  // covers them all): a reworded or empty reason would silently stop matching.
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

  it.each([DETAILS_OMITTED, REFUSED_OMITTED, UNSERIALISABLE_OMITTED])(
    'says why under the documented prefix, in the words the README gives: %s',
    (reason) => {
      expect(reason).toMatch(/^details omitted: \S/);
      expect(readme).toContain(`\`${reason}\``);
    },
  );

  it('gives each case its own reason', () => {
    expect(new Set([DETAILS_OMITTED, REFUSED_OMITTED, UNSERIALISABLE_OMITTED]).size).toBe(3);
  });
});
