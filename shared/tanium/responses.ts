import { isRecord } from '../config/is-record.ts';
import { withSentence } from '../config/message-text.ts';
import { looksLikeHtml } from './error-text.ts';
import { TaniumError } from './errors.ts';
import { isIdempotent, RETRYABLE_STATUSES } from './retry-policy.ts';
import { UNKNOWN_OUTCOME_SUFFIX } from './transport-errors.ts';

/** Reading Tanium's answers (tanium-api.md 1.6) and turning HTTP errors into messages and kinds (1.7). */

/** An error body's text for a message, without secrets (the client's `errorText`). */
type ErrorText = (body: string, contentType: string) => string;

export interface RequestFacts {
  method: string;
  /** The action's display name, for messages. */
  action?: string | undefined;
  /** The permission the route needs, named in a final 403. */
  permission?: string | undefined;
  /**
   * What the route needs in words, where no permission name is documented (e.g. `read access to
   * computer groups`), said in a final 403 instead of a Threat Response permission.
   */
  access?: string | undefined;
}

/**
 * The parser's message without the piece of the body V8 quotes in it (`"sess-TOPSE"... is not valid
 * JSON`): a body that does not parse may be a session or token, and the message reaches results and logs.
 */
function jsonParserMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // `Unexpected token 'x', <piece of the body> is not valid JSON`: keep the token, drop the piece, which
  // V8 quotes from the start or (`..."...`) from the middle of the text. Other messages give a position.
  if (!/ is not valid JSON$/.test(message)) return message;
  const token = /^(Unexpected token '.*?'),/s.exec(message)?.[1] ?? 'Unexpected input';
  return `${token} (the body is not valid JSON)`;
}

/**
 * A 2xx body: unwrapped from `{data: ...}` (keeping `meta`), `null` when empty, text when it is neither
 * JSON nor HTML; JSON that does not parse, or HTML where JSON was expected, is an error.
 */
export function parseBody(
  errorText: ErrorText,
  status: number,
  text: string,
  contentType: string,
): { payload: unknown; meta?: unknown; wrapped?: true } {
  if (text.trim() === '') return { payload: null };
  let parsed: unknown;
  if (contentType.includes('json')) {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new TaniumError('tanium', `Unable to parse JSON response. Error: ${jsonParserMessage(error)}`, {
        status,
      });
    }
  } else if (looksLikeHtml(text, contentType)) {
    throw new TaniumError(
      'tanium',
      `Unexpected HTML response from server. Status Code: ${status} Data from server: ${errorText(text, 'text/html')}`,
      { status },
    );
  } else {
    try {
      parsed = JSON.parse(text);
    } catch {
      return { payload: text };
    }
  }
  if (isRecord(parsed) && Object.hasOwn(parsed, 'data')) {
    const wrapped = parsed as { data: unknown; meta?: unknown };
    return wrapped.meta === undefined
      ? { payload: wrapped.data, wrapped: true }
      : { payload: wrapped.data, meta: wrapped.meta, wrapped: true };
  }
  return { payload: parsed };
}

/** The caveat on a DELETE's 404 after an attempt that may have reached Tanium (here and on redelivery). */
export const CARRIED_OUT_CAVEAT = 'Tanium may have carried it out before this 404';

/** What makes an earlier attempt's outcome unknown (client.ts sets `afterLostAnswer` on them). */
const LOST_ANSWER_CAUSES = 'HTTP 502 or 504, or the connection dropped after sending';

/**
 * The error for a final non-2xx answer. `sentWith` is the credential of the final attempt (undefined for
 * a login, whose 401/403 are plain HTTP errors that the login reports itself). `afterLostAnswer`: an
 * earlier attempt may have been carried out (see LOST_ANSWER_CAUSES). `retryAfterMs`: the answer's
 * `Retry-After`, kept on a 429/502/503/504 error so a retry later (a redelivery, a login's) waits at
 * least that long.
 */
export function httpError(
  errorText: ErrorText,
  request: RequestFacts,
  status: number,
  text: string,
  contentType: string,
  sentWith: 'token' | 'session' | undefined,
  { afterLostAnswer = false, retryAfterMs }: { afterLostAnswer?: boolean; retryAfterMs?: number } = {},
): TaniumError {
  const isLogin = sentWith === undefined;
  const said = errorText(text, contentType);
  const action = request.action ?? 'this request';
  if (status === 403 && !isLogin) {
    const what = request.permission
      ? `the '${request.permission}' permission`
      : (request.access ?? 'a Threat Response permission');
    return new TaniumError(
      'permission',
      `Permission denied (HTTP 403): the Tanium user or API token lacks ${what} needed by ${action}. Tanium said: ${said}`,
      { status, afterLostAnswer },
    );
  }
  if (status === 401 && !isLogin) {
    return new TaniumError(
      'auth',
      sentWith === 'token'
        ? `Authentication failed (HTTP 401): Tanium rejected the API token. Tanium said: ${said} Check that the token has not expired and that this service's egress IP is in the token's trusted IP addresses (api_token_trusted_ip_address_list).`
        : `Authentication failed (HTTP 401): Tanium rejected the session. Tanium said: ${said}`,
      { status, afterLostAnswer },
    );
  }
  const message = `Error from server. Status Code: ${status} Data from server: ${said}`;
  if (status === 404) {
    // A 404 is not proof either way then: a gateway error or a dropped connection says nothing about
    // whether Tanium got the first attempt, and a mistyped id also answers 404.
    // Tanium's text rarely ends a sentence (`Connection not found: <id>`): the caveat starts a new one.
    const hedged =
      afterLostAnswer && request.method === 'DELETE'
        ? withSentence(
            message,
            `An earlier attempt of this request got no answer (${LOST_ANSWER_CAUSES}): ${CARRIED_OUT_CAVEAT}.`,
          )
        : message;
    return new TaniumError('not_found', hedged, { status });
  }
  if (RETRYABLE_STATUSES.has(status)) {
    return isIdempotent(request.method)
      ? new TaniumError('transient', message, {
          status,
          retryable: true,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        })
      : new TaniumError('unknown_outcome', `${message}${UNKNOWN_OUTCOME_SUFFIX}`, {
          status,
          // Only a login's is retried (it changes nothing); an action's write never is.
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
  }
  const tooLarge = TOO_LARGE[status];
  if (tooLarge) {
    // These answers rarely say anything (an empty body is common): the status is all there is to go on.
    return new TaniumError(
      'tanium',
      `${message} The server refused the request as too large (${tooLarge}): shorten the parameter values.`,
      { status },
    );
  }
  return new TaniumError('tanium', message, { status });
}

/** What a server's "too large" statuses refer to. */
const TOO_LARGE: Readonly<Record<number, string>> = {
  413: 'HTTP 413, its body',
  414: 'HTTP 414, its URL',
  431: 'HTTP 431, its URL or headers',
};
