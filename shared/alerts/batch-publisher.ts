import { entrySize, MAX_ENTRIES_PER_CALL, MAX_ENTRY_BYTES } from '../events/eventbridge-limits.ts';
import { TaniumError, toTaniumError } from '../tanium/errors.ts';
import {
  alertDetail,
  alertEntry,
  REFUSED_OMITTED,
  reducedAlertEntry,
  shownAlertId,
  shownScalar,
} from './alert-event.ts';
import { type Candidate, oldestFirst, storedId } from './alert-order.ts';
import type { CursorState } from './cursor-state.ts';
import { PublishError, type Refusal, RefusedWhole, UnpublishedEntriesError } from './errors.ts';
import { IntelNames } from './intel-names.ts';
import type { RunContext } from './run-context.ts';
import type { AlertEntry, PublishOutcome } from './types.ts';

/**
 * Batches EventBridge refused whole, even reduced, before it had taken anything in the run: not yet
 * dropped, because only a later alert the bus takes shows that the bus itself works.
 */
const MAX_HELD_BATCHES = 5;

/** A prefix of candidates that fits one PutEvents call, and its events. */
interface PreparedBatch {
  batch: Candidate[];
  entries: AlertEntry[];
  details: Record<string, unknown>[];
}

/** A batch held that way: its alerts, and each one's two refusals (by index into `batch`). */
interface HeldBatch {
  batch: Candidate[];
  details: Record<string, unknown>[];
  refusals: Refusal[];
  error: PublishError;
}

/**
 * Step 5 of a run (poller.ts): publishes the alerts read, oldest first, in PutEvents batches; handles
 * what EventBridge refuses, and moves the cursor after each batch.
 */
export class BatchPublisher {
  /** Whether EventBridge has taken at least one entry in this run: the bus itself works. */
  private busTookAnEntry = false;
  /** Batches refused whole while the bus had taken nothing; their alerts are not eligible meanwhile. */
  private readonly held: HeldBatch[] = [];
  private readonly heldKeys = new Set<string>();
  /**
   * The bus refused a whole batch of undated alerts before taking anything in the run: held (nothing
   * dropped) while the other batches go; the first entry taken drops them before its batch moves the
   * floor. Still set at the run's end, the bus took nothing: the run fails with them pending.
   */
  undatedRefusal: RefusedWhole | undefined;
  /** Undated batches refused whole while the bus had taken nothing: dropped once it takes an entry. */
  private readonly undatedHeld: HeldBatch[] = [];
  private readonly undatedHeldKeys = new Set<string>();
  private readonly intelNames: IntelNames;

  constructor(
    private readonly run: RunContext,
    private readonly cursor: CursorState,
  ) {
    this.intelNames = new IntelNames(run);
  }

  /** The failure of the oldest batch held: the run's, unless a later alert shows the bus works. */
  heldFailure(): PublishError | undefined {
    return this.held[0]?.error;
  }

  private eligible(): Candidate[] {
    const list: Candidate[] = [];
    for (const candidate of this.run.pending.values()) if (this.isEligible(candidate)) list.push(candidate);
    return list.sort(oldestFirst);
  }

  hasEligible(): boolean {
    for (const candidate of this.run.pending.values()) if (this.isEligible(candidate)) return true;
    return false;
  }

  /**
   * Below coveredTop; in the cursor's millisecond, only members whose position is known (read in
   * pages that connect to its done members), and already while the walk is inside it.
   */
  private isEligible(candidate: Candidate): boolean {
    if (this.heldKeys.has(candidate.key)) return false;
    if (this.cursor.group?.at === candidate.ts) {
      return candidate.rank !== undefined && this.cursor.coveredTop >= candidate.ts;
    }
    return candidate.ts < this.cursor.coveredTop;
  }

  /**
   * Publishes the eligible alerts oldest first: whole batches only, or everything when `flush`.
   * Returns false when the time limit stopped it.
   */
  async publishEligible(flush: boolean): Promise<boolean> {
    // Undated alerts first: the batches below may move F past where they were read, and nothing but
    // this run's memory holds them.
    if (!(await this.publishUndated())) return false;
    const eligible = this.eligible();
    let next = 0;
    while (eligible.length - next >= MAX_ENTRIES_PER_CALL || (flush && next < eligible.length)) {
      if (this.publishingTimeUp()) return false;
      next += await this.publishBatch(eligible.slice(next, next + MAX_ENTRIES_PER_CALL));
    }
    return true;
  }

  /** Publishes a prefix of `candidates` that fits one PutEvents call; returns how many went out. */
  private async publishBatch(candidates: Candidate[]): Promise<number> {
    const prepared = await this.entriesFor(candidates);
    const { batch, details } = prepared;
    try {
      await this.send(prepared, (taken, dropped) => this.settle(batch, details, taken, dropped));
    } catch (error) {
      if (!(error instanceof RefusedWhole) || this.held.length >= MAX_HELD_BATCHES) throw error;
      // The next batches tell whether the bus refuses everything or only these alerts.
      this.held.push({ batch, details, refusals: error.refusals, error });
      for (const candidate of batch) this.heldKeys.add(candidate.key);
    }
    return batch.length;
  }

  /**
   * Publishes a prepared batch and records what the bus took with `record`. When it took part of the
   * batch before the rest failed for good, those are recorded (the next run must send only the others)
   * and the failure goes on.
   */
  private async send(
    { batch, entries, details }: PreparedBatch,
    record: (taken: ReadonlySet<number>, dropped: ReadonlySet<number>) => Promise<void>,
  ): Promise<void> {
    let dropped: Set<number>;
    try {
      dropped = await this.publishEntries(entries, details);
    } catch (error) {
      if (error instanceof PublishError && error.accepted.size > 0) await record(error.accepted, new Set());
      throw error;
    }
    await record(new Set(batch.keys()), dropped);
  }

  /** Whether the run's time is up for publishing; it then stops as at its time limit. */
  private publishingTimeUp(): boolean {
    if (this.run.clock() < this.run.deps.stopAt) return false;
    this.run.report.stoppedBy = 'time_limit';
    return true;
  }

  /** The longest prefix of `candidates` that fits one PutEvents call, as entries. */
  private async entriesFor(candidates: Candidate[]): Promise<PreparedBatch> {
    const entries: AlertEntry[] = [];
    const details: Record<string, unknown>[] = [];
    let bytes = 0;
    for (const candidate of candidates) {
      const name = await this.intelNames.of(candidate.alert);
      const detail = alertDetail(candidate.alert, name);
      const entry = alertEntry(detail, this.entryOptions());
      const size = entrySize(entry);
      if (entries.length > 0 && bytes + size > MAX_ENTRY_BYTES) break;
      entries.push(entry);
      details.push(detail);
      bytes += size;
    }
    return { batch: candidates.slice(0, entries.length), entries, details };
  }

  /**
   * Publishes the alerts without a readable createdAt read so far: they have no place in the list, so
   * each is remembered by id instead and never moves the floor. Returns false when the time limit
   * stopped it.
   */
  async publishUndated(): Promise<boolean> {
    const waiting: Candidate[] = [...this.run.undatedPending]
      .filter(([key]) => !this.undatedHeldKeys.has(key))
      .map(([key, alert]) => ({ alert, key, ts: Number.NaN }));
    for (let next = 0; next < waiting.length; ) {
      if (this.publishingTimeUp()) return false;
      const prepared = await this.entriesFor(waiting.slice(next, next + MAX_ENTRIES_PER_CALL));
      const { batch, details } = prepared;
      for (const candidate of batch) {
        this.run.deps.logger.warn(
          'Publishing an alert without a readable createdAt; it is remembered by its id',
          {
            alertId: shownAlertId(candidate.alert.id),
            guid: shownAlertId(candidate.alert.guid),
            // Unreadable, so anything Tanium sent: a scalar, cut like any value a log line echoes.
            createdAt: shownScalar(candidate.alert.createdAt),
          },
        );
      }
      try {
        await this.send(prepared, (taken, dropped) => this.settleUndated(batch, details, taken, dropped));
      } catch (error) {
        if (!(error instanceof RefusedWhole)) throw error;
        // Held like a dated batch: the first entry the bus takes drops them, before its batch moves F.
        this.undatedRefusal = error;
        this.undatedHeld.push({ batch, details, refusals: error.refusals, error });
        for (const candidate of batch) this.undatedHeldKeys.add(candidate.key);
      }
      next += batch.length;
    }
    return true;
  }

  private async settleUndated(
    batch: Candidate[],
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    await this.countSettled(details, taken, dropped);
    for (const index of taken) {
      const { alert, key } = batch[index]!;
      this.cursor.rememberUndated(storedId(alert, key));
      this.run.undatedPending.delete(key);
    }
    this.run.report.undatedAlerts += taken.size - dropped.size;
    await this.cursor.save();
  }

  /** What settling any batch starts with: held batches dropped once the bus took one, and the counts. */
  private async countSettled(
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    // The bus took an alert after refusing the held ones: they are dropped, and done before this batch
    // raises the floor past them.
    if (taken.size > 0 && this.undatedHeld.length > 0) this.dropUndatedHeld();
    if (taken.size > 0 && this.held.length > 0) await this.dropHeld();
    this.run.report.batches++;
    this.run.report.published += taken.size - dropped.size;
    this.run.report.unparseableDetails += details.filter(
      (detail, index) => detail.details_error !== undefined && taken.has(index) && !dropped.has(index),
    ).length;
  }

  /**
   * Records a batch the bus took (`taken`, by index: every entry but after a failure) and saves: R gets
   * every alert taken, and F rises only as far as the taken alerts below the first one not taken.
   */
  private async settle(
    batch: Candidate[],
    details: Record<string, unknown>[],
    taken: ReadonlySet<number>,
    dropped: ReadonlySet<number>,
  ): Promise<void> {
    await this.countSettled(details, taken, dropped);
    // The batch is sorted oldest first: below its first alert not taken, everything read is published.
    let newest = Number.NEGATIVE_INFINITY;
    // The floor follows only alerts the clock vouches for: one stamped ahead would close the window W.
    let newestReal = Number.NEGATIVE_INFINITY;
    const present = this.run.now();
    let complete = true;
    batch.forEach((candidate, index) => {
      if (!taken.has(index)) {
        complete = false;
        return;
      }
      this.cursor.remember(storedId(candidate.alert, candidate.key), candidate.key, candidate.ts, complete);
      this.run.pending.delete(candidate.key);
      if (complete && candidate.ts > newest) newest = candidate.ts;
      if (complete && candidate.ts <= present && candidate.ts > newestReal) newestReal = candidate.ts;
      if (this.cursor.newestPublishedAt === undefined || candidate.ts > this.cursor.newestPublishedAt)
        this.cursor.newestPublishedAt = candidate.ts;
    });
    if (newest !== Number.NEGATIVE_INFINITY) {
      // Everything read below `newest` is published (oldest first). The window W stays open only near
      // the top of the list: an alert older than (newest at the head read − W) was visible before this
      // walk.
      const floor = newestReal === Number.NEGATIVE_INFINITY ? newestReal : this.cursor.floorAfter(newestReal);
      this.cursor.raiseFloor(floor, newest, newestReal);
    }
    await this.cursor.save();
  }

  private entryOptions() {
    return { source: this.run.settings.source, detailType: this.run.settings.detailType };
  }

  /**
   * Publishes one batch. An entry EventBridge refuses for its content goes again with the alert's
   * identifying fields only; one refused even so is dropped (logged with its id) so that it cannot stop
   * every later alert, but only once the bus has taken some entry in this run: when it takes none, the
   * bus is the likelier cause, and the run fails with nothing dropped. Returns the indexes of the dropped
   * alerts; they still count as done.
   */
  private async publishEntries(
    entries: AlertEntry[],
    details: Record<string, unknown>[],
  ): Promise<Set<number>> {
    /** `position` maps an index into `sent` to one into `entries`; `taken`: entries already published. */
    const send = async (sent: AlertEntry[], position: (index: number) => number, taken: number[]) => {
      let outcome: PublishOutcome;
      try {
        outcome = await this.run.deps.publisher.publish(sent, this.run.deps.publishSignal);
      } catch (error) {
        const accepted = new Set(taken);
        if (error instanceof UnpublishedEntriesError) {
          this.run.report.putEventsCalls += error.calls;
          for (const index of error.accepted) accepted.add(position(index));
          if (error.accepted.length > 0) this.busTookAnEntry = true;
          // Taken in their reduced form (the second call): counted as such, like the reduced ones of a
          // batch that goes through.
          if (sent !== entries) this.run.report.reducedAlerts += error.accepted.length;
        }
        throw new PublishError(toTaniumError(error), accepted);
      }
      this.run.report.putEventsCalls += outcome.calls;
      if (outcome.refused.length < sent.length) this.busTookAnEntry = true;
      return outcome.refused;
    };
    const identity = (index: number) => alertIdentity(details[index] ?? {});
    const refused = await send(entries, (index) => index, []);
    if (refused.length === 0) return new Set();
    for (const refusal of refused) {
      this.run.deps.logger.warn(
        'EventBridge refused an alert event; publishing its identifying fields only',
        {
          ...identity(refusal.index),
          code: refusal.code,
          error: refusal.message,
        },
      );
    }
    const reduced = refused.map((refusal) =>
      reducedAlertEntry(details[refusal.index] ?? {}, REFUSED_OMITTED, this.entryOptions()),
    );
    // Indexes into `entries` of the alerts refused again, with both refusals.
    const wasRefused = new Set(refused.map((refusal) => refusal.index));
    const refusedAgain = (
      await send(
        reduced,
        (index) => refused[index]!.index,
        entries.flatMap((_, index) => (wasRefused.has(index) ? [] : [index])),
      )
    ).map((again) => ({
      index: refused[again.index]!.index,
      first: refused[again.index]!,
      again,
    }));
    if (refusedAgain.length > 0 && !this.busTookAnEntry) {
      // Nothing taken in this run, so every entry of the batch was refused twice.
      const { again } = refusedAgain[0]!;
      throw new RefusedWhole(
        new TaniumError(
          'transient',
          `EventBridge refused every alert event of this run, even reduced to identifying fields (${again.code}: ${again.message}); none was dropped. Check the bus and its rules`,
          { retryable: true },
        ),
        refusedAgain,
      );
    }
    this.logDropped(refusedAgain, details);
    const dropped = new Set(refusedAgain.map(({ index }) => index));
    this.run.report.reducedAlerts += refused.length - dropped.size;
    this.run.report.refusedAlerts += dropped.size;
    return dropped;
  }

  private logDropped(refusals: Refusal[], details: Record<string, unknown>[]): void {
    for (const { index, first, again } of refusals) {
      this.run.deps.logger.error('EventBridge refused an alert event even reduced; it is not published', {
        ...alertIdentity(details[index] ?? {}),
        code: again.code,
        error: again.message,
        firstCode: first.code,
        firstError: first.message,
      });
    }
  }

  /** Drops the undated batches held, remembered by id as done (saved with the batch that took an entry). */
  private dropUndatedHeld(): void {
    const held = this.undatedHeld.splice(0);
    this.undatedHeldKeys.clear();
    this.undatedRefusal = undefined;
    for (const { batch, details, refusals } of held) {
      this.logDropped(refusals, details);
      this.run.report.refusedAlerts += refusals.length;
      for (const { alert, key } of batch) {
        this.cursor.rememberUndated(storedId(alert, key));
        this.run.undatedPending.delete(key);
      }
    }
  }

  /** Drops the held batches, oldest first, as publishEntries drops an alert refused even reduced. */
  private async dropHeld(): Promise<void> {
    const held = this.held.splice(0);
    this.heldKeys.clear();
    for (const { batch, details, refusals } of held) {
      this.logDropped(refusals, details);
      this.run.report.refusedAlerts += refusals.length;
      const all = new Set(batch.keys());
      await this.settle(batch, details, all, all);
    }
  }
}

/**
 * What a log line says to identify an alert: scalars only, since a log line holding a value nested
 * thousands deep would fail to serialise.
 */
function alertIdentity(detail: Record<string, unknown>) {
  return {
    alertId: shownAlertId(detail.id),
    guid: shownAlertId(detail.guid),
    createdAt: shownScalar(detail.createdAt),
  };
}
