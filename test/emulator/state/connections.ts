import type { Clock, EmulatorConfig } from '../types.ts';
import type { EndpointRecord } from './endpoints.ts';

export type ConnectionStatus = 'waiting' | 'connected' | 'disconnected' | 'timeout';

export interface ConnectionRecord {
  id: string;
  hostname: string;
  ip: string | null;
  clientId: string;
  platform: string | null;
  eid: string;
  initiatedAt: number;
  reachable: boolean;
  /** Time it became connected, when it is reachable (seeded ones may be in the past). */
  connectAt: number;
  closedAt: number | null;
  lastUsedAt: number | null;
  hasTools: boolean;
}

export interface ConnectTarget {
  hostname?: unknown;
  ip?: unknown;
  clientId?: unknown;
  platform?: unknown;
}

/**
 * Connections keep only their timestamps; the status is derived from the clock on every read, so a
 * manual clock can be advanced between requests without any timer running.
 */
export class ConnectionStore {
  private records = new Map<string, ConnectionRecord>();
  private nextEid = 1;

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  clear(): void {
    this.records.clear();
    this.nextEid = 1;
  }

  status(record: ConnectionRecord, now = this.clock.now()): ConnectionStatus {
    if (record.closedAt !== null) return 'disconnected';
    if (!record.reachable)
      return now >= record.initiatedAt + this.config.connectTimeoutMs ? 'timeout' : 'waiting';
    if (now < record.connectAt) return 'waiting';
    const lastActive = Math.max(record.connectAt, record.lastUsedAt ?? 0);
    return now >= lastActive + this.config.idleTimeoutMs ? 'timeout' : 'connected';
  }

  toJson(record: ConnectionRecord, now = this.clock.now()): Record<string, unknown> {
    const status = this.status(record, now);
    const everConnected =
      record.reachable && now >= record.connectAt && (record.closedAt ?? now) >= record.connectAt;
    return {
      id: record.id,
      status,
      message: status === 'timeout' ? 'Connection timed out' : '',
      hostname: record.hostname,
      ip: record.ip,
      clientId: record.clientId,
      platform: record.platform,
      eid: record.eid,
      sessionId: null,
      initiatedAt: record.initiatedAt,
      connectedAt: everConnected ? record.connectAt : null,
      hasTools: record.hasTools,
      personaId: 0,
      userId: '1',
    };
  }

  list(): ConnectionRecord[] {
    return [...this.records.values()];
  }

  get(id: string): ConnectionRecord | undefined {
    return this.records.get(id);
  }

  /** Creates `remote:<hostname>:<clientId>:<eid>`; a target unknown to DEC never connects. */
  connect(target: ConnectTarget, endpoint: EndpointRecord | undefined): ConnectionRecord {
    const now = this.clock.now();
    const hostname =
      typeof target.hostname === 'string' ? target.hostname : (endpoint?.endpoint.hostname ?? '');
    const clientId = target.clientId === undefined || target.clientId === null ? '' : String(target.clientId);
    return this.add({
      id: `remote:${hostname}:${clientId}:${this.nextEid}`,
      hostname,
      ip: typeof target.ip === 'string' ? target.ip : null,
      clientId,
      platform: typeof target.platform === 'string' ? target.platform : null,
      eid: String(this.nextEid),
      initiatedAt: now,
      reachable: endpoint?.reachable ?? false,
      connectAt: now + this.config.connectDelayMs,
      closedAt: null,
      lastUsedAt: null,
      hasTools: endpoint?.endpoint.platform === 'Windows',
    });
  }

  add(record: ConnectionRecord): ConnectionRecord {
    this.records.set(record.id, record);
    const eid = Number(record.eid);
    if (Number.isInteger(eid) && eid >= this.nextEid) this.nextEid = eid + 1;
    return record;
  }

  touch(record: ConnectionRecord): void {
    record.lastUsedAt = this.clock.now();
  }

  close(id: string): boolean {
    const record = this.records.get(id);
    if (!record) return false;
    record.closedAt ??= this.clock.now();
    return true;
  }

  delete(id: string): boolean {
    return this.records.delete(id);
  }

  seed(endpoints: readonly EndpointRecord[]): void {
    const now = this.clock.now();
    const find = (hostname: string) => endpoints.find((record) => record.endpoint.hostname === hostname)!;
    const base = (record: EndpointRecord, eid: number, initiatedAt: number): ConnectionRecord => ({
      id: `remote:${record.endpoint.hostname}:${record.endpoint.clientId}:${eid}`,
      hostname: record.endpoint.hostname,
      ip: record.endpoint.ip,
      clientId: record.endpoint.clientId,
      platform: record.endpoint.platform,
      eid: String(eid),
      initiatedAt,
      reachable: record.reachable,
      connectAt: initiatedAt + this.config.connectDelayMs,
      closedAt: null,
      lastUsedAt: null,
      hasTools: record.endpoint.platform === 'Windows',
    });
    // Already connected, so tests can use it at once.
    this.add({ ...base(find('test-client-1'), 1, now - 5000), connectAt: now - 3000 });
    // Becomes connected after connectDelayMs.
    this.add(base(find('web-02'), 2, now));
    // Unreachable: waits, then times out after connectTimeoutMs.
    this.add(base(find('offline-01'), 3, now));
    this.add({ ...base(find('dup-host'), 4, now - 60_000), connectAt: now - 58_000, closedAt: now - 30_000 });
    this.add({ ...base(find('db-01'), 5, now - 5000), connectAt: now - 3000 });
    this.add({
      ...base(find('test-client-1'), 0, now - 4000),
      id: 'local:test-client-1:test-client-1-1642209939999.db',
      eid: '',
      connectAt: now - 3500,
    });
  }
}
