import { CONNECT_TIMEOUT_MS } from './agent.ts';
import { DeadlineError, TaniumError } from './errors.ts';

/** What went wrong below HTTP, and whether the request can have reached Tanium. */
export type TransportFailure =
  | 'tls'
  | 'not_tls'
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'connect_timeout'
  | 'handshake_closed'
  | 'response_timeout'
  | 'body_stalled'
  | 'reset'
  | 'deadline'
  | 'no_time'
  | 'other';

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/**
 * OpenSSL's answers to bytes that are not TLS at all: the port speaks plain HTTP (an `https://` base URL
 * for an `http://` server) or something else. Not a certificate problem, whatever ca_bundle says.
 */
const NOT_TLS_CODES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_UNKNOWN_PROTOCOL',
]);

/**
 * Node's error when the server ends the connection before the TLS handshake completes (a load balancer
 * or a restarting Tanium): its code is the ECONNRESET of a reset mid-request, only the message tells
 * them apart, and no HTTP byte can have left before the handshake.
 */
const HANDSHAKE_CLOSED_MESSAGE = 'before secure TLS connection was established';

function closedDuringHandshake(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (code === 'ECONNRESET' && typeof message === 'string' && message.includes(HANDSHAKE_CLOSED_MESSAGE))
      return true;
  }
  return false;
}

/** `error` and its causes, five at most (undici and fetch wrap the system error once or twice). */
function* causeChain(error: unknown): Generator<object> {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/**
 * undici's parser found the connection closed before the answer's end: a chunked body cut short. It
 * gives this error no code (as of undici 7), so its text tells it; a later undici may name the code.
 */
function endedMidAnswer(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const { name, message, code } = current as { name?: unknown; message?: unknown; code?: unknown };
    if (code === 'HPE_INVALID_EOF_STATE') return true;
    if (name === 'HTTPParserError' && typeof message === 'string' && message.includes('(Invalid EOF state)'))
      return true;
  }
  return false;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL']);

/** connect() failed locally or on the route: no socket was ever open, so nothing reached Tanium. */
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * The system call that failed, from the first error in the cause chain that names one. A connect to a
 * host with several addresses (happy eyeballs) fails with an AggregateError that names none; when every
 * address failed in connect, nothing was sent either.
 */
function failedSyscall(error: unknown): string | undefined {
  for (const current of causeChain(error)) {
    const { syscall } = current as { syscall?: unknown };
    if (typeof syscall === 'string') return syscall;
    if (everyAddressFailedToConnect(current)) return 'connect';
  }
  return undefined;
}

/** The per-address errors of a happy-eyeballs connect when every address failed in connect(). */
function everyAddressFailedToConnect(error: object): Array<{ code?: unknown }> | undefined {
  const { errors } = error as { errors?: unknown };
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  return errors.every((entry) => entry?.syscall === 'connect') ? errors : undefined;
}

function errorCode(error: unknown): string {
  for (const current of causeChain(error)) {
    const addresses = everyAddressFailedToConnect(current);
    if (addresses) {
      // The aggregate carries the first address's code (often a 250 ms attempt timing out); a refusal
      // anywhere, else the last address's outcome, says more about the host.
      const code = (addresses.find((entry) => entry.code === 'ECONNREFUSED') ?? addresses.at(-1))?.code;
      if (typeof code === 'string') return code;
    }
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

export function classifyTransportError(
  error: unknown,
  deadlineHit: boolean,
): { failure: TransportFailure; code: string } {
  const code = errorCode(error);
  if (deadlineHit) return { failure: 'deadline', code };
  if (NOT_TLS_CODES.has(code)) return { failure: 'not_tls', code };
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL'))
    return { failure: 'tls', code };
  if (DNS_CODES.has(code)) return { failure: 'dns', code };
  if (code === 'ECONNREFUSED') return { failure: 'refused', code };
  if (UNREACHABLE_CODES.has(code)) {
    // The same codes on an open socket (the route died mid-request) say nothing about what Tanium got.
    return { failure: failedSyscall(error) === 'connect' ? 'unreachable' : 'reset', code };
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { failure: 'connect_timeout', code };
  if (code === 'ETIMEDOUT') {
    // Only a connect that timed out proves nothing was sent; on an open socket (TCP keep-alive or
    // retransmissions giving up mid-request) a POST may have reached Tanium.
    return { failure: failedSyscall(error) === 'connect' ? 'connect_timeout' : 'reset', code };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { failure: 'response_timeout', code };
  // Tanium answered, then stopped part-way through the body: not the same as never answering.
  if (code === 'UND_ERR_BODY_TIMEOUT') return { failure: 'body_stalled', code };
  if (code === 'ECONNRESET' && closedDuringHandshake(error)) return { failure: 'handshake_closed', code };
  // On an answer sent with `Connection: close` (a proxy's, or HTTP/1.0), undici takes the connection's
  // end, a FIN or a reset alike, for the answer's end, and reports a body cut short as a length mismatch
  // or a parser error rather than a socket error: the same lost answer as a reset.
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || endedMidAnswer(error))
    return { failure: 'reset', code };
  if (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'UND_ERR_CLOSED' ||
    code === 'ECONNABORTED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE'
  ) {
    return { failure: 'reset', code };
  }
  return { failure: 'other', code };
}

/** The client refused the request's own arguments (undici, Node): nothing was sent. */
const INVALID_REQUEST_CODES = /^(UND_ERR_INVALID_ARG|UND_ERR_NOT_SUPPORTED|ERR_INVALID_)/;

/** A failure before any byte could have reached Tanium: a POST may be retried after it. */
export function neverSent(failure: TransportFailure): boolean {
  return (
    failure === 'dns' ||
    failure === 'refused' ||
    failure === 'unreachable' ||
    failure === 'connect_timeout' ||
    failure === 'handshake_closed' ||
    failure === 'no_time'
  );
}

/** A failure that retrying the same request may cure. */
export function transientFailure(failure: TransportFailure): boolean {
  return (
    failure === 'connect_timeout' ||
    failure === 'handshake_closed' ||
    failure === 'response_timeout' ||
    failure === 'body_stalled' ||
    failure === 'reset'
  );
}

export const UNKNOWN_OUTCOME_SUFFIX =
  ' The request may have been processed by Tanium; check before running it again.';

export interface RequestDescription {
  method: string;
  path: string;
  host: string;
  port: string;
  timeoutSeconds: number;
  /** Bytes of the answer's body received before it failed, when the caller counted them. */
  bytesReceived?: number;
}

/**
 * `error` as the cause of a transport error: its name, message, code and stack, and its own cause the
 * same way, but nothing else. undici's HTTPParserError keeps the raw bytes of the answer it could not
 * parse in an enumerable `data`, which a server echoing a request header fills with the credential, and a
 * logger printing causes (Powertools' formatError does) would print them.
 */
function withoutRawData(error: unknown, depth = 0): Error | undefined {
  if (error === undefined || error === null) return undefined;
  if (!(error instanceof Error)) {
    return new Error(typeof error === 'string' ? error : `a thrown ${typeof error}`);
  }
  const { code } = error as { code?: unknown };
  const cause = depth < 5 ? withoutRawData(error.cause, depth + 1) : undefined;
  const bare = new Error(error.message, cause === undefined ? undefined : { cause });
  bare.name = error.name;
  if (error.stack !== undefined) bare.stack = error.stack;
  if (typeof code === 'string' || typeof code === 'number') Object.assign(bare, { code });
  return bare;
}

/** The contract's `Error connecting to server: ...` message and error kind for a transport failure. */
export function transportError(
  failure: TransportFailure,
  code: string,
  request: RequestDescription,
  error: unknown,
): TaniumError {
  const cause = withoutRawData(error);
  const { method, path, host, port } = request;
  const prefix = 'Error connecting to server: ';
  const isWrite = method === 'POST' || method === 'PUT';
  switch (failure) {
    case 'tls':
      return new TaniumError(
        'transport',
        `${prefix}TLS certificate verification failed (${code}). Check ca_bundle or the server certificate.`,
        { retryable: false, cause },
      );
    case 'not_tls':
      return new TaniumError(
        'transport',
        `${prefix}${host}:${port} did not answer with TLS (${code}). Check that base_url names Tanium's HTTPS address and port.`,
        { retryable: false, cause },
      );
    case 'dns':
      return new TaniumError('transport', `${prefix}DNS lookup failed for ${host} (${code})`, {
        retryable: true,
        cause,
      });
    case 'refused':
      return new TaniumError('transport', `${prefix}connection refused by ${host}:${port}`, {
        retryable: true,
        cause,
      });
    case 'unreachable':
      return new TaniumError('transport', `${prefix}${host}:${port} is unreachable (${code})`, {
        retryable: true,
        cause,
      });
    case 'connect_timeout':
      // After the retries of a GET or DELETE a timeout is transient (1.7); a POST's, never sent, stays a
      // connection failure like DNS or refused.
      return new TaniumError(
        isWrite ? 'transport' : 'transient',
        `${prefix}connection to ${host}:${port} timed out after ${CONNECT_TIMEOUT_MS / 1000} s`,
        { retryable: true, cause },
      );
    case 'handshake_closed':
      // Never sent, so even a POST was retried; after the retries it stays a connection failure.
      return new TaniumError(
        isWrite ? 'transport' : 'transient',
        `${prefix}${host}:${port} closed the connection during the TLS handshake`,
        { retryable: true, cause },
      );
    case 'response_timeout':
      return isWrite
        ? new TaniumError(
            'unknown_outcome',
            `${prefix}no response from ${host} within ${request.timeoutSeconds} s (${method} ${path})${UNKNOWN_OUTCOME_SUFFIX}`,
            { cause },
          )
        : new TaniumError(
            'transient',
            `${prefix}no response from ${host} within ${request.timeoutSeconds} s (${method} ${path})`,
            { retryable: true, cause },
          );
    case 'body_stalled': {
      const after =
        request.bytesReceived === undefined
          ? ''
          : ` after ${request.bytesReceived.toLocaleString('en-US')} bytes`;
      const stalled = `${prefix}${host} stopped sending the answer${after}: nothing for ${request.timeoutSeconds} s (${method} ${path})`;
      return isWrite
        ? new TaniumError('unknown_outcome', `${stalled}${UNKNOWN_OUTCOME_SUFFIX}`, { cause })
        : new TaniumError('transient', stalled, { retryable: true, cause });
    }
    case 'reset':
      return isWrite
        ? new TaniumError(
            'unknown_outcome',
            `${prefix}connection reset by ${host} (${method} ${path})${UNKNOWN_OUTCOME_SUFFIX}`,
            { cause },
          )
        : new TaniumError('transient', `${prefix}connection reset by ${host} (${method} ${path})`, {
            retryable: true,
            cause,
          });
    case 'deadline':
      return new DeadlineError(
        isWrite ? 'unknown_outcome' : 'transient',
        `${prefix}the invocation ran out of time during ${method} ${path}${isWrite ? UNKNOWN_OUTCOME_SUFFIX : ''}`,
        { retryable: !isWrite, cause },
      );
    case 'no_time':
      // Nothing was sent, so even a POST is safe to run again in a later delivery.
      return new DeadlineError(
        'transient',
        `${prefix}the invocation ran out of time during ${method} ${path} (nothing was sent)`,
        { retryable: true, cause },
      );
    default: {
      const detail = error instanceof Error ? error.message : String(error);
      // Anything but a failed connect (a malformed answer, an unknown socket error) may come after the
      // request reached Tanium: for a POST or PUT that is an uncertain outcome, not a connection failure.
      if (isWrite && failedSyscall(error) !== 'connect' && !INVALID_REQUEST_CODES.test(code)) {
        return new TaniumError(
          'unknown_outcome',
          `${prefix}${detail}${code ? ` (${code})` : ''} (${method} ${path})${UNKNOWN_OUTCOME_SUFFIX}`,
          { cause },
        );
      }
      return new TaniumError('transport', `${prefix}${detail}${code ? ` (${code})` : ''}`, {
        retryable: false,
        cause,
      });
    }
  }
}
