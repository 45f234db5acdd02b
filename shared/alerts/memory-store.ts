import { LeaseLostError } from './errors.ts';
import type { Checkpoint, LeasedState, StateStore } from './types.ts';

/**
 * The same contract as DynamoStateStore, in memory: for unit tests, the benchmark and local runs.
 * Checkpoints are copied in and out so a caller can never change the stored state by accident.
 */
export class MemoryStateStore implements StateStore {
  checkpoint: Checkpoint | undefined;
  version = 0;
  leaseOwner: string | undefined;
  leaseUntil = 0;
  saves = 0;
  unsavedSince: number | undefined;

  async acquire(
    owner: string,
    leaseUntil: number,
    now: number,
    _signal?: AbortSignal,
    startedAt = now,
  ): Promise<LeasedState | undefined> {
    if (this.leaseOwner !== undefined && this.leaseOwner !== owner && this.leaseUntil >= now)
      return undefined;
    this.leaseOwner = owner;
    this.leaseUntil = leaseUntil;
    this.unsavedSince ??= startedAt;
    return {
      checkpoint: this.checkpoint ? structuredClone(this.checkpoint) : undefined,
      version: this.version,
      unsavedSince: this.unsavedSince,
    };
  }

  async save(owner: string, version: number, checkpoint: Checkpoint): Promise<number> {
    if (this.leaseOwner !== owner || this.version !== version) throw new LeaseLostError();
    this.checkpoint = structuredClone(checkpoint);
    this.unsavedSince = undefined;
    this.version = version + 1;
    this.saves++;
    return this.version;
  }

  async noteTried(startedAt: number): Promise<void> {
    this.unsavedSince ??= startedAt;
  }

  async release(owner: string): Promise<void> {
    if (this.leaseOwner === owner) this.leaseUntil = 0;
  }
}
