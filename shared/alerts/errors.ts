import { type ErrorKind, TaniumError } from '../tanium/errors.ts';

/** Errors of the alert poller's own machinery (Tanium and configuration errors use tanium/errors.ts). */
export class PollerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PollerError';
  }
}

/** A save found another run's lease or a newer version: this run must stop publishing at once. */
export class LeaseLostError extends PollerError {
  constructor(message = 'Another poller run took over the state', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseLostError';
  }
}

/**
 * Some entries of one publish call still failed after the retries, for a reason that may pass or a
 * configuration to fix; the others went out. The poller must count those as published, or the next run
 * would send them a second time.
 */
export class UnpublishedEntriesError extends TaniumError {
  constructor(
    kind: ErrorKind,
    message: string,
    /** Indexes, into the entries given, of the entries EventBridge accepted. */
    readonly accepted: number[],
    /** PutEvents calls made. */
    readonly calls: number,
    options: { retryable?: boolean } = {},
  ) {
    super(kind, message, options);
    this.name = 'UnpublishedEntriesError';
  }
}

/**
 * A PutEvents failure that survived the retries: of the batch, only the entries in `accepted` (indexes
 * into it) went out, and only those are checkpointed.
 */
export class PublishError extends TaniumError {
  constructor(
    cause: TaniumError,
    readonly accepted: ReadonlySet<number> = new Set(),
  ) {
    super(cause.kind, cause.message, { retryable: cause.retryable, cause });
    this.name = 'PublishError';
  }
}

/** An entry refused twice: as it was, then reduced (`index` into its batch). */
export interface Refusal {
  index: number;
  first: { code: string; message: string };
  again: { code: string; message: string };
}

/** Every entry of a batch refused, even reduced, while the bus had taken nothing in the run. */
export class RefusedWhole extends PublishError {
  constructor(
    cause: TaniumError,
    readonly refusals: Refusal[],
  ) {
    super(cause);
    this.name = 'RefusedWhole';
  }
}
