/**
 * The error kinds of the contract (tanium-api.md 1.7). Every failure that reaches a result is one of
 * these; `retryable` tells the event layer whether SQS redelivery can help.
 */
export const ERROR_KINDS = [
  'validation',
  'config',
  'auth',
  'permission',
  'not_found',
  'connection',
  'tanium',
  'transient',
  'unknown_outcome',
  'transport',
  'vault',
  'too_large',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * Failures no request can avoid and only the deployment's owner can fix: Tanium refusing the credentials
 * or lacking a permission, a secret or setting that cannot be used, the vault refusing. A playbook sees
 * them as failed results and the queue as handled records, so they have their own count and alarm
 * (ServiceFailures); validation, not-found and connection failures are the requests'.
 */
export const SERVICE_FAILURE_KINDS: ReadonlySet<ErrorKind> = new Set([
  'auth',
  'permission',
  'config',
  'vault',
]);

export interface ErrorInfo {
  kind: ErrorKind;
  retryable: boolean;
}

/** What a TaniumError carries besides its kind and message (see the fields of the same names). */
export interface TaniumErrorOptions {
  retryable?: boolean;
  status?: number;
  cause?: unknown;
  afterLostAnswer?: boolean;
  requestFault?: boolean;
  retryAfterMs?: number;
}

export class TaniumError extends Error {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  /** HTTP status of the final response, when there was one. */
  readonly status: number | undefined;
  /**
   * An earlier attempt of the request got no answer (a reset, a gateway error): Tanium may have carried
   * it out although this final answer refused it, so it must not be sent again with other credentials.
   */
  readonly afterLostAnswer: boolean;
  /**
   * The kind names a part of the deployment, but the request's own input caused the failure (a vault_id
   * with no file behind it): not one of the SERVICE_FAILURE_KINDS failures the owner must fix.
   */
  readonly requestFault: boolean;
  /**
   * How long Tanium asked the caller to wait (the `Retry-After` of a final 429, 502, 503 or 504 that the
   * client could not wait out within the invocation): a redelivery should not come sooner. Kept by the
   * action result of a retryable failure only (a write's unknown outcome is never repeated).
   */
  readonly retryAfterMs: number | undefined;

  constructor(kind: ErrorKind, message: string, options: TaniumErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaniumError';
    this.kind = kind;
    this.retryable = options.retryable ?? false;
    this.status = options.status;
    this.afterLostAnswer = options.afterLostAnswer ?? false;
    this.requestFault = options.requestFault ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  get info(): ErrorInfo {
    return { kind: this.kind, retryable: this.retryable };
  }

  /** The same error with a prefix on its message (e.g. `Close connection failed. `). */
  withPrefix(prefix: string): TaniumError {
    const copy = new TaniumError(this.kind, `${prefix}${this.message}`, {
      retryable: this.retryable,
      status: this.status,
      cause: this,
      afterLostAnswer: this.afterLostAnswer,
      requestFault: this.requestFault,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    });
    return copy;
  }
}

/**
 * The username/password login failed (`Login failed: ...`), whatever its status: callers that explain
 * a route's own HTTP error (the connection check of 1.10) must not read it as one.
 */
export class LoginError extends TaniumError {
  /** Never a fault of the request: the credentials, not the action's input, were refused. */
  constructor(kind: ErrorKind, message: string, options: Omit<TaniumErrorOptions, 'requestFault'>) {
    super(kind, message, options);
    this.name = 'LoginError';
  }

  /** This refusal, answered again without a login (see REFUSED_LOGIN_MEMORY_MS in session-cache.ts). */
  repeated(): LoginError {
    return new LoginError(
      this.kind,
      `${this.message} (the same credentials were refused less than a minute ago: not tried again yet, so that Tanium does not lock the account)`,
      {
        retryable: this.retryable,
        ...(this.status === undefined ? {} : { status: this.status }),
        cause: this.cause,
      },
    );
  }

  /** The same failure for a request an earlier attempt of which got no answer (see afterLostAnswer). */
  afterLost(): LoginError {
    return new LoginError(this.kind, this.message, {
      retryable: this.retryable,
      ...(this.status === undefined ? {} : { status: this.status }),
      cause: this.cause,
      afterLostAnswer: true,
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    });
  }
}

/**
 * The caller's deadline stopped a request: no time was left to send it, or it was still running when the
 * deadline came. Callers whose deadline is their own budget (the alert poller's time for reading) take it
 * for the end of that budget, not for a failure of Tanium.
 */
export class DeadlineError extends TaniumError {
  constructor(kind: ErrorKind, message: string, options: { retryable?: boolean; cause?: unknown }) {
    super(kind, message, options);
    this.name = 'DeadlineError';
  }
}

/**
 * Whether the caller's deadline is what stopped it: a DeadlineError, or an error wrapping one (a login cut
 * at the deadline is a LoginError, a prefixed error a copy).
 */
export function causedByDeadline(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; depth++) {
    if (cause instanceof DeadlineError) return true;
    cause = cause.cause;
  }
  return false;
}

/** Bad input: a parameter, an event, a request envelope. Never retried. */
export class ValidationError extends TaniumError {
  constructor(message: string) {
    super('validation', message);
    this.name = 'ValidationError';
  }
}

/** Bad or missing configuration (secret fields, environment). Never retried. */
export class ConfigError extends TaniumError {
  constructor(message: string, cause?: unknown) {
    super('config', message, { cause });
    this.name = 'ConfigError';
  }
}

/** Errors from the S3 vault; retryable as S3 says, never for a missing object. */
export class VaultError extends TaniumError {
  constructor(
    message: string,
    options: Pick<TaniumErrorOptions, 'retryable' | 'cause' | 'requestFault'> = {},
  ) {
    super('vault', message, options);
    this.name = 'VaultError';
  }
}

export class TooLargeError extends TaniumError {
  constructor(message: string) {
    super('too_large', message);
    this.name = 'TooLargeError';
  }
}

/** Turns anything thrown into a TaniumError without losing a typed one. */
export function toTaniumError(error: unknown): TaniumError {
  if (error instanceof TaniumError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TaniumError('tanium', `Unexpected error: ${message}`, { cause: error });
}

/** A 2xx body that is not the shape the action reads (kind `tanium`, not retryable). */
export function unexpectedResponse(what: string): TaniumError {
  return new TaniumError(
    'tanium',
    `Error occurred while processing the response from server. Expected ${what}`,
  );
}
