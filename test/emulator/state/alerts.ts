import type { Clock } from '../types.ts';
import { iso, mulberry32, uuidFrom } from '../util.ts';

export interface Alert {
  id: number;
  guid: string;
  type: string;
  state: string;
  priority: string;
  severity: string;
  intelDocId: number | null;
  intelDocRevisionId: number | null;
  scanConfigId: number | null;
  scanConfigRevisionId: number | null;
  computerName: string;
  computerIpAddress: string;
  eid: number | string | null;
  matchType: string;
  alertedAt: string;
  createdAt: string;
  updatedAt: string;
  ackedAt: string | null;
  suppressedAt: string | null;
  details?: string;
}

/** Fields of a new alert; `createdAt` as epoch ms or ISO (default: now); anything omitted is generated. */
export type AlertInput = Partial<Omit<Alert, 'createdAt' | 'details'>> & {
  createdAt?: number | string;
  /** A string is sent as is; null leaves `details` out. */
  details?: string | null;
};

interface Stored {
  alert: Alert;
  createdMs: number;
}

const STATES = ['unresolved', 'inprogress', 'unresolved', 'ignored', 'resolved'];
const PRIORITIES = ['high', 'medium', 'low'];
const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
const HOSTS = [
  ['test-client-1', '10.0.0.5'],
  ['web-02', '10.0.0.9'],
  ['db-01', '10.0.1.10'],
  ['dup-host', '10.0.0.21'],
] as const;
const PRUNE_INTERVAL_MS = 5 * 60_000;

function detailsFor(matchType: string, variant: number): string {
  const md5 = [
    '9dd4e461268c8034f5c8564e155c67a6',
    '0cc175b9c0f1b6a831c399e269772661',
    'd0956eacc60b294c0e75f4244a99999a',
  ][variant % 3];
  if (matchType === 'file') {
    return JSON.stringify({
      match: { type: 'file', properties: { file: { fullpath: `/home/dev/x${variant}.sh`, md5 } } },
    });
  }
  const fullpath = `C:\\Windows\\System32\\test${variant}.exe`;
  return JSON.stringify({
    match: {
      type: 'process',
      properties: {
        fullpath,
        md5,
        file: {
          fullpath,
          md5,
          sha1: '11f6ad8ec52a2984abaafd7c3b516503785c2072',
          sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881',
        },
      },
    },
  });
}

// A few shared strings instead of 100,000 distinct ones keeps a large backlog cheap.
const DETAILS_POOL: Record<string, string[]> = {
  process: Array.from({ length: 6 }, (_, i) => detailsFor('process', i)),
  file: Array.from({ length: 6 }, (_, i) => detailsFor('file', i)),
};

function newestFirst(a: Stored, b: Stored): number {
  return b.createdMs - a.createdMs || b.alert.id - a.alert.id;
}

/**
 * Alerts kept sorted newest first (ties: highest id first), so the usual `-createdAt` page is a slice.
 * Alerts with a future `createdAt` wait in `pending` and get their id when the clock reaches them.
 */
export class AlertStore {
  private items: Stored[] = [];
  private pending: { input: AlertInput; createdMs: number }[] = [];
  private nextId = 1;
  private lowestIdFirstView: Stored[] | undefined;
  /** When set, alerts older than this are pruned every five minutes of clock time (Tanium's cadence). */
  retentionMs: number | null = null;
  private lastPruneAt: number;

  constructor(private readonly clock: Clock) {
    this.lastPruneAt = clock.now();
  }

  clear(): void {
    this.items = [];
    this.pending = [];
    this.nextId = 1;
    this.retentionMs = null;
    this.lastPruneAt = this.clock.now();
    this.changed();
  }

  get size(): number {
    return this.items.length;
  }

  private changed(): void {
    this.lowestIdFirstView = undefined;
  }

  private materialize(input: AlertInput, createdMs: number): Stored {
    const id = input.id ?? this.nextId;
    this.nextId = Math.max(this.nextId, id + 1);
    const random = mulberry32(id * 2654435761);
    const host = HOSTS[id % HOSTS.length]!;
    const matchType = input.matchType ?? (id % 3 === 2 ? 'file' : 'process');
    const createdAt = iso(createdMs);
    const alert: Alert = {
      id,
      guid: input.guid ?? uuidFrom(random),
      type: input.type ?? 'detect.match',
      state: input.state ?? STATES[id % STATES.length]!,
      priority: input.priority ?? PRIORITIES[id % PRIORITIES.length]!,
      severity: input.severity ?? SEVERITIES[id % SEVERITIES.length]!,
      intelDocId: input.intelDocId === undefined ? (id % 2 ? 11 : 527) : input.intelDocId,
      intelDocRevisionId: input.intelDocRevisionId ?? null,
      scanConfigId: input.scanConfigId === undefined ? 1 + (id % 4) : input.scanConfigId,
      scanConfigRevisionId: input.scanConfigRevisionId ?? 3,
      computerName: input.computerName ?? host[0],
      computerIpAddress: input.computerIpAddress ?? host[1],
      eid:
        input.eid === undefined ? (id % 5 === 0 ? null : id % 5 === 1 ? String(id % 7) : id % 7) : input.eid,
      matchType,
      alertedAt: input.alertedAt ?? iso(createdMs - 50_000),
      createdAt,
      updatedAt: input.updatedAt ?? createdAt,
      ackedAt: input.ackedAt ?? null,
      suppressedAt: input.suppressedAt ?? null,
    };
    if (input.details !== null) {
      const pool = DETAILS_POOL[matchType] ?? DETAILS_POOL.process!;
      alert.details = input.details ?? pool[id % pool.length]!;
    }
    return { alert, createdMs };
  }

  private insert(stored: Stored): void {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (newestFirst(this.items[mid]!, stored) < 0) low = mid + 1;
      else high = mid;
    }
    this.items.splice(low, 0, stored);
  }

  /**
   * Adds alerts in the given order (ids increase in that order whatever their createdAt, which is how
   * out-of-order ids arise). Inputs dated in the future arrive when the clock reaches them.
   */
  add(inputs: AlertInput[]): Alert[] {
    const now = this.clock.now();
    const added: Alert[] = [];
    const batch: Stored[] = [];
    for (const input of inputs) {
      const createdMs =
        input.createdAt === undefined
          ? now
          : typeof input.createdAt === 'number'
            ? input.createdAt
            : Date.parse(input.createdAt);
      if (createdMs > now) {
        this.pending.push({ input, createdMs });
        continue;
      }
      const stored = this.materialize(input, createdMs);
      batch.push(stored);
      added.push(stored.alert);
    }
    this.pending.sort((a, b) => a.createdMs - b.createdMs);
    if (batch.length > 64) {
      this.items.push(...batch);
      this.items.sort(newestFirst);
    } else for (const stored of batch) this.insert(stored);
    this.changed();
    return added;
  }

  /** `count` alerts arriving every `spacingMs`, the first at `startAt` (default: one spacing from now). */
  addSteady(count: number, spacingMs: number, startAt?: number, template: AlertInput = {}): number {
    const first = startAt ?? this.clock.now() + spacingMs;
    this.add(Array.from({ length: count }, (_, i) => ({ ...template, createdAt: first + i * spacingMs })));
    return count;
  }

  /** `count` alerts sharing one `createdAt` millisecond (default: now). */
  addBurst(count: number, at?: number, template: AlertInput = {}): Alert[] {
    const createdAt = at ?? this.clock.now();
    return this.add(Array.from({ length: count }, () => ({ ...template, createdAt })));
  }

  /** `count` alerts whose ids grow while their createdAt goes back in time by `stepMs`. */
  addOutOfOrder(count: number, stepMs = 1000, template: AlertInput = {}): Alert[] {
    const now = this.clock.now();
    return this.add(Array.from({ length: count }, (_, i) => ({ ...template, createdAt: now - i * stepMs })));
  }

  /** A backlog ending now (oldest first, ids in createdAt order); 100,000 takes well under a second. */
  addBacklog(count: number, spacingMs = 1000, endAt?: number): number {
    const end = endAt ?? this.clock.now();
    const batch: Stored[] = new Array(count);
    for (let i = 0; i < count; i++) batch[i] = this.materialize({}, end - (count - 1 - i) * spacingMs);
    batch.reverse();
    const older = this.items.length === 0 || batch[batch.length - 1]!.createdMs >= this.items[0]!.createdMs;
    this.items = older ? [...batch, ...this.items] : [...this.items, ...batch].sort(newestFirst);
    this.changed();
    return count;
  }

  /** Moves due arrivals in and prunes on Tanium's five-minute cadence when a retention is set. */
  tick(now = this.clock.now()): void {
    let due = 0;
    while (due < this.pending.length && this.pending[due]!.createdMs <= now) due++;
    if (due > 0) {
      const arrivals = this.pending.splice(0, due);
      for (const { input, createdMs } of arrivals) this.insert(this.materialize(input, createdMs));
      this.changed();
    }
    if (this.retentionMs !== null && now >= this.lastPruneAt + PRUNE_INTERVAL_MS) {
      this.lastPruneAt = now;
      this.prune(this.retentionMs);
    }
  }

  /** Removes alerts created more than `olderThanMs` before now; returns how many went. */
  prune(olderThanMs: number): number {
    const cutoff = this.clock.now() - olderThanMs;
    const before = this.items.length;
    // Sorted newest first: the survivors are a prefix.
    let keep = 0;
    while (keep < this.items.length && this.items[keep]!.createdMs >= cutoff) keep++;
    this.items.length = keep;
    this.changed();
    return before - keep;
  }

  setState(ids: number[], state: string): number {
    let changed = 0;
    const at = iso(this.clock.now());
    for (const { alert } of this.items) {
      if (!ids.includes(alert.id)) continue;
      alert.state = state;
      alert.updatedAt = at;
      changed++;
    }
    return changed;
  }

  get(id: number): Alert | undefined {
    return this.items.find((stored) => stored.alert.id === id)?.alert;
  }

  /** Newest first; within one millisecond highest id first, or lowest first when asked. */
  ordered(lowestIdFirst: boolean): readonly Stored[] {
    if (!lowestIdFirst) return this.items;
    this.lowestIdFirstView ??= [...this.items].sort(
      (a, b) => b.createdMs - a.createdMs || a.alert.id - b.alert.id,
    );
    return this.lowestIdFirstView;
  }

  all(): Alert[] {
    return this.items.map((stored) => stored.alert);
  }

  seed(): void {
    this.add([
      {
        id: 1,
        guid: '0b7e6a3c-5d89-477e-bf14-8d6577842aa9',
        state: 'unresolved',
        priority: 'high',
        severity: 'info',
        intelDocId: 11,
        scanConfigId: 1,
        scanConfigRevisionId: 3,
        computerName: 'test-client-1',
        computerIpAddress: '10.0.0.5',
        eid: 1,
        matchType: 'process',
        alertedAt: '2021-11-17T18:02:32.000Z',
        createdAt: '2021-11-17T18:03:22.741Z',
        details: detailsFor('process', 0).replaceAll('test0.exe', 'test.exe'),
      },
      {
        id: 2,
        guid: '4c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f',
        state: 'inprogress',
        priority: 'medium',
        intelDocId: 527,
        computerName: 'web-02',
        computerIpAddress: '10.0.0.9',
        eid: null,
        matchType: 'file',
        createdAt: '2021-11-17T18:05:41.007Z',
        details: JSON.stringify({
          match: {
            type: 'file',
            properties: { file: { fullpath: '/home/dev/x.sh', md5: '0cc175b9c0f1b6a831c399e269772661' } },
          },
        }),
      },
      {
        id: 3,
        state: 'unresolved',
        priority: 'low',
        computerName: 'db-01',
        computerIpAddress: '10.0.1.10',
        eid: '3',
        createdAt: '2021-11-18T09:00:00.000Z',
        details: '{"match":{"type":"process",',
      },
      {
        id: 4,
        state: 'resolved',
        priority: 'high',
        computerName: 'test-client-1',
        computerIpAddress: '10.0.0.5',
        createdAt: '2021-11-18T10:00:00.000Z',
        details: null,
      },
      {
        id: 5,
        state: 'ignored',
        priority: 'medium',
        severity: 'high',
        createdAt: '2021-11-19T11:00:00.000Z',
      },
      {
        id: 6,
        state: 'unresolved',
        priority: 'high',
        severity: 'critical',
        intelDocId: 527,
        scanConfigId: 2,
        createdAt: '2021-11-20T12:00:00.000Z',
      },
      { id: 7, state: 'inprogress', priority: 'low', createdAt: '2021-11-20T12:00:00.000Z' },
      {
        id: 8,
        state: 'unresolved',
        priority: 'medium',
        computerName: 'web-02',
        computerIpAddress: '10.0.0.9',
        createdAt: '2021-11-21T13:00:00.000Z',
      },
    ]);
  }
}
