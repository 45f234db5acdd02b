import type { EventLogger } from '../events/logging.ts';
import type { Alert } from '../tanium/alerts.ts';

/** One page of `GET TR/alerts?sort=-createdAt&limit&offset` (newest first). */
export interface SourcePage {
  alerts: Alert[];
  /**
   * `meta.filteredCount` (else, with no filters, `totalCount`) when Tanium sent it: the length of the
   * filtered list.
   */
  filteredCount?: number;
  /**
   * True when `filteredCount` is Tanium's `totalCount`, sent without a numeric `filteredCount`: it also
   * counts the alerts the filters hide, so it cannot tell that a short page is the end of the list.
   */
  totalOnly?: boolean;
  /**
   * True when Tanium's own `meta.filteredCount` says matching alerts lie past this page: a page shorter
   * than the limit is then not the end of the list (Tanium capped the limit).
   */
  more?: boolean;
}

/** Where alerts come from: Tanium in production, an in-memory list in unit tests. */
export interface AlertSource {
  /** One newest-first page; `deadline` is epoch ms (Date.now scale) after which no attempt may start. */
  page(offset: number, limit: number, deadline: number): Promise<SourcePage>;
  /** The intel doc's name, for the optional enrichment; may throw (the poller carries on without it). */
  intelDocName?(id: string, deadline: number): Promise<string | undefined>;
}

/** An alert id as Tanium sends it (a number); kept as is in the state. */
export type AlertId = number | string;

/** Published ids that share one `createdAt` millisecond. */
export type RecentGroup = [createdAtMs: number, ids: AlertId[]];

/** What the poller remembers between runs (see the invariants in poller.ts). */
export interface Checkpoint {
  /** Every alert with `createdAt` below this (epoch ms) is done: published, or older than the first run. */
  floor: number;
  /** Every alert published with `createdAt >= floor`, grouped by millisecond, ascending. */
  recent: RecentGroup[];
  /** Filtered alerts older than `floor` when last seen: a hint to find the floor's offset in one request. */
  olderCount?: number;
  /** Bounds on that number learnt by an unfinished search: [at least, at most]. */
  olderBounds?: [number, number];
  /** Without counts, what an unfinished search learnt: the first alert below `floor` is at least this deep. */
  belowAtLeast?: number;
  /** Newest `createdAt` published so far (epoch ms). */
  newestPublishedAt?: number;
  /** How far the walk got inside a single-millisecond group larger than a page (see poller.ts). */
  group?: GroupCursor;
  /**
   * Alerts without a readable `createdAt` already published, oldest first (at most UNDATED_MEMORY):
   * they have no place in the list, so they are remembered by id instead.
   */
  undated?: AlertId[];
}

/**
 * Progress inside one millisecond holding more alerts than a page, in Tanium's order of its members
 * (which such a group already relies on being stable): its `passed` oldest-listed members are done.
 */
export interface GroupCursor {
  /** The group's `createdAt` (epoch ms). */
  at: number;
  /** Members done, counted from the group's end deepest in the list (highest offset). */
  passed: number;
  /** The ids of the last done members, in list order from the deepest: where the next run resumes. */
  edge: AlertId[];
}

export interface LeasedState {
  /** Undefined on the very first run. */
  checkpoint: Checkpoint | undefined;
  version: number;
  /**
   * When the earliest run since the state was last saved took the lease (this run's own clock reading
   * when it is that run). Before the first save, when the poller first tried to run: a first run after
   * failed ones reads from then, so the alerts created while they failed are not lost.
   */
  unsavedSince: number;
}

/**
 * Persistence with a lease: at most one run holds it, and every save is fenced by owner and version.
 * `signal`, when aborted, cancels the call in flight (the invocation is about to end).
 */
export interface StateStore {
  /**
   * The state, or undefined while another run's lease is live. `owner` names one run, never reused (two
   * deliveries of one scheduled invocation may run at once under its request id). `startedAt`, in the
   * alerts' time (`now` by default), becomes `unsavedSince` unless an earlier unsaved run set it.
   */
  acquire(
    owner: string,
    leaseUntil: number,
    now: number,
    signal?: AbortSignal,
    startedAt?: number,
  ): Promise<LeasedState | undefined>;
  /** Saves and returns the new version; throws LeaseLostError when another run took over. */
  save(owner: string, version: number, checkpoint: Checkpoint, signal?: AbortSignal): Promise<number>;
  release(owner: string, signal?: AbortSignal): Promise<void>;
  /**
   * Records that a run started at `startedAt` (the alerts' time) and failed before taking the lease,
   * unless an earlier unsaved run did: a first run counts from the earliest (`unsavedSince`).
   */
  noteTried(startedAt: number, signal?: AbortSignal): Promise<void>;
}

/** One EventBridge entry, ready for PutEvents. */
export interface AlertEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName?: string;
}

/** An entry EventBridge refused for what it holds: sent again as it is, it would be refused again. */
export interface RefusedEntry {
  /** Index into the entries given. */
  index: number;
  code: string;
  message: string;
}

export interface PublishOutcome {
  /** PutEvents calls made. */
  calls: number;
  /** Entries refused for their content; every other entry was published. */
  refused: RefusedEntry[];
}

export interface AlertPublisher {
  /**
   * Publishes every entry (at most 10, within the request size limit), retrying failed entries. Throws
   * when some could not be published for a reason that may pass (throttling, permissions, a failed
   * call): an UnpublishedEntriesError when it knows which entries the bus took all the same, so that
   * they are not sent again. Returns the entries refused for their content, which the poller handles
   * itself. Once `signal` is aborted it sends nothing more and throws promptly, an
   * UnpublishedEntriesError naming the entries the bus confirmed before: the others count as not
   * published.
   */
  publish(entries: AlertEntry[], signal?: AbortSignal): Promise<PublishOutcome>;
}

/** What one run of the poller (poller.ts) works with. */
export interface PollerDeps {
  source: AlertSource;
  store: StateStore;
  publisher: AlertPublisher;
  logger: PollerLogger;
  /** Names this run in the lease: unique per run (the Lambda request id and a random part). */
  owner: string;
  /** Epoch ms (Date.now scale): no Tanium request or publish starts after this. */
  stopAt: number;
  /** Epoch ms (Date.now scale) until which the lease holds: after the hardest possible end of this run. */
  leaseUntil: number;
  /**
   * Aborted when PutEvents calls, and their retries, must stop so that the state can still be saved: the
   * alerts of a call it cuts count as not published (the next run sends them again).
   */
  publishSignal?: AbortSignal;
  /**
   * Aborted shortly before the invocation ends: a state store call still running is cut, so the run
   * ends itself (a save cut fails it) instead of running into the Lambda timeout unreported.
   */
  storeSignal?: AbortSignal;
  /** Wall-clock time for alert ages (first-run window, lag); Date.now by default. */
  now?: () => number;
  /**
   * When the invocation started, on `now`'s clock (`now()` at the run's start by default): a first run
   * publishes from its first-run window before it, however long reading the credentials took.
   */
  startedAt?: number;
  /** Date.now by default; the time limit is checked against it. */
  clock?: () => number;
}

/** The poller logs through the same structured logger surface as the family handlers. */
export type PollerLogger = EventLogger;

export interface PollerSettings {
  /** `limit` of every page request. */
  pageSize: number;
  /** Page requests allowed per run (the locate search included). */
  maxRequestsPerRun: number;
  /** How far below the newest published `createdAt` late-visible alerts are still looked for. */
  overlapWindowMs: number;
  /** First run: publish the alerts of the last N hours; 0 publishes none of the existing ones. */
  firstRunHours: number;
  /** Filter pairs sent after `limit`, `offset` and `sort`. */
  filterPairs: Array<[string, string]>;
  /** Ids kept in `recent`, when below what the page size allows (`Paging.windowIds` in alert-page.ts). */
  maxRecentIds: number;
  enrichIntelNames: boolean;
  source: string;
  detailType: string;
}

export type RunStatus = 'caught_up' | 'partial' | 'skipped' | 'lease_lost' | 'failed';

export interface RunReport {
  status: RunStatus;
  /** Why a partial run stopped. */
  stoppedBy?: 'time_limit' | 'request_limit' | 'error';
  published: number;
  /** Alert page requests to Tanium. */
  taniumRequests: number;
  /** Intel doc look-ups (enrichment). */
  intelRequests: number;
  putEventsCalls: number;
  batches: number;
  /** Published alerts whose `details` could not be parsed. */
  unparseableDetails: number;
  /** Alerts EventBridge refused whole, published with their identifying fields only. */
  reducedAlerts: number;
  /** Alerts EventBridge refused even reduced: not published, logged with their ids, not tried again. */
  refusedAlerts: number;
  /** Alerts read with neither `id` nor `guid`: they cannot be deduplicated, so they are not published. */
  unidentifiedAlerts: number;
  /**
   * Alerts published in this run that have no readable createdAt: with no place in the list, each is
   * remembered by id (Checkpoint.undated) and published once, after the others.
   */
  undatedAlerts: number;
  /**
   * How long the oldest alert known to wait has waited (now − its createdAt): 0 when caught up, absent
   * when the run could not tell (the head read failed, the lease was held elsewhere).
   */
  lagMs?: number;
  /** Alerts read with a createdAt more than a minute ahead of the function's clock (warned about). */
  futureAlerts?: number;
  /** The floor after the run (ISO). */
  floor?: string;
  error?: { kind: string; message: string };
}
