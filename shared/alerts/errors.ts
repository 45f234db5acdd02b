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
