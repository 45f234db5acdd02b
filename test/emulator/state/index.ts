import type { Clock, EmulatorConfig, EmulatorCredentials, EventType, Switches } from '../types.ts';
import { mulberry32, uuidFrom } from '../util.ts';
import { type AlertInput, AlertStore } from './alerts.ts';
import { AuthStore } from './auth.ts';
import { ConnectionStore } from './connections.ts';
import { type EndpointRecord, seedEndpoints } from './endpoints.ts';
import type { EventRow } from './events.ts';
import { HostEvents } from './events.ts';
import { type FileEvidence, seedFiles } from './files.ts';
import { type ComputerGroup, seedGroups } from './groups.ts';
import { IntelStore } from './intels.ts';
import { ProcessTable } from './processes.ts';
import { ScanStore } from './scans.ts';
import { type Snapshot, seedSnapshots } from './snapshots.ts';
import { TaskStore } from './tasks.ts';

export const DEFAULT_CONFIG: Readonly<EmulatorConfig> = Object.freeze({
  connectDelayMs: 2000,
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  taskDurationMs: 1000,
  sessionTtlMs: 300_000,
  tokenTtlMs: 365 * 24 * 3_600_000,
  eventsCountCap: 10_000,
  ancestorDepthLimit: 3,
});

/**
 * The emulator's whole in-memory model. Routes read and change it; tests drive it through the control
 * methods here (or `/__emulator/*` over HTTP).
 */
export class EmulatorState {
  readonly auth: AuthStore;
  endpoints: EndpointRecord[] = [];
  readonly connections: ConnectionStore;
  readonly tasks: TaskStore;
  snapshots: Snapshot[] = [];
  files: FileEvidence[] = [];
  readonly intels = new IntelStore();
  groups: ComputerGroup[] = [];
  readonly scans = new ScanStore();
  readonly alerts: AlertStore;
  private readonly processTables = new Map<string, ProcessTable>();
  private readonly hostEvents = new Map<string, HostEvents>();
  private uuidCounter = 0;

  constructor(
    readonly clock: Clock,
    readonly config: EmulatorConfig,
    readonly switches: Switches,
    readonly credentials: EmulatorCredentials,
  ) {
    this.auth = new AuthStore(clock, config);
    this.connections = new ConnectionStore(clock, config);
    this.tasks = new TaskStore(clock, config, () => switches.taskFailure);
    this.alerts = new AlertStore(clock);
  }

  /** Empties everything; with `seed` (default) loads the standard data set again. Credentials stay the same. */
  reset(seed = true): void {
    this.auth.clear();
    this.connections.clear();
    this.tasks.clear();
    this.intels.clear();
    this.scans.clear();
    this.alerts.clear();
    this.processTables.clear();
    this.hostEvents.clear();
    this.uuidCounter = 0;
    this.endpoints = [];
    this.snapshots = [];
    this.files = [];
    this.groups = [];
    // Auth is always seeded: an emulator nobody can log in to is of no use.
    this.auth.seed(this.credentials);
    if (!seed) return;
    this.endpoints = seedEndpoints();
    this.connections.seed(this.endpoints);
    this.snapshots = seedSnapshots();
    this.files = seedFiles();
    this.intels.seed();
    this.groups = seedGroups();
    this.alerts.seed();
  }

  /** Applies every clock-driven change that is due (tasks, alert arrival, pruning). */
  tick(): void {
    const now = this.clock.now();
    this.tasks.tick(now);
    this.alerts.tick(now);
  }

  nextUuid(): string {
    // Deterministic per reset, yet shaped like the random v4 uuids Tanium hands out.
    return uuidFrom(mulberry32(0x5eed0000 + ++this.uuidCounter));
  }

  processTable(hostname: string): ProcessTable {
    const key = hostname.toLowerCase();
    let table = this.processTables.get(key);
    if (!table) {
      const endpoint = this.endpoints.find((record) => record.endpoint.hostname.toLowerCase() === key);
      table = ProcessTable.forHost(hostname, endpoint?.endpoint.platform ?? null);
      this.processTables.set(key, table);
    }
    return table;
  }

  events(hostname: string): HostEvents {
    const key = hostname.toLowerCase();
    let events = this.hostEvents.get(key);
    if (!events) {
      events = new HostEvents(hostname, this.processTable(hostname));
      this.hostEvents.set(key, events);
    }
    return events;
  }

  // Control helpers (also offered on the Emulator and under /__emulator/*).

  expireToken(token?: string): void {
    this.auth.expireToken(token);
  }

  expireAllSessions(): void {
    this.auth.expireAllSessions();
  }

  setTrustedIps(ips: string[], token?: string): void {
    this.auth.setTrustedIps(ips, token);
  }

  removePermission(persona: string, permission: string): void {
    this.auth.removePermission(persona, permission);
  }

  completeTasks(ids?: number[]): number[] {
    return this.tasks.complete(ids);
  }

  failTask(id: number, error?: string): boolean {
    return this.tasks.fail(id, error);
  }

  addAlerts(inputs: AlertInput[] | number): ReturnType<AlertStore['add']> {
    return this.alerts.add(typeof inputs === 'number' ? Array.from({ length: inputs }, () => ({})) : inputs);
  }

  pruneAlerts(olderThanMs: number): number {
    return this.alerts.prune(olderThanMs);
  }

  /** Appends `count` rows of a type on the endpoint behind a connection id. */
  generateEvents(connectionId: string, type: EventType, count: number): EventRow[] {
    const record = this.connections.get(connectionId);
    const hostname = record?.hostname ?? connectionId.split(':')[1];
    if (!hostname) throw new Error(`Unknown connection: ${connectionId}`);
    return this.events(hostname).generate(type, count);
  }
}
