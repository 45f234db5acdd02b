import type { TaniumApi, TaniumRequest } from '../tanium/client.ts';
import { TaniumError } from '../tanium/errors.ts';

/**
 * Failures that prove a write never took effect: never sent (`validation`, `config`), or refused by
 * Tanium before it acted (`auth`, `permission`), unless an earlier attempt of it got no answer.
 */
const REFUSED_UNSENT_KINDS: ReadonlySet<TaniumError['kind']> = new Set([
  'validation',
  'config',
  'auth',
  'permission',
]);

export interface WriteWatch {
  /** `client`, watched. */
  client: TaniumApi;
  /** Whether a request that can change Tanium (any but a GET) may have taken effect so far. */
  mayHaveChanged(): boolean;
}

/**
 * Watches what a mutating action's requests may have changed in Tanium, so that a failure that changed
 * nothing need not be kept as the request's stored result (see Processor).
 */
export function watchWrites(client: TaniumApi): WriteWatch {
  let changed = false;
  const watched = async <T>(request: TaniumRequest, send: () => Promise<T>): Promise<T> => {
    if (request.method === 'GET') return send();
    try {
      const answer = await send();
      changed = true;
      return answer;
    } catch (error) {
      const refused =
        error instanceof TaniumError && REFUSED_UNSENT_KINDS.has(error.kind) && !error.afterLostAnswer;
      if (!refused) changed = true;
      throw error;
    }
  };
  return {
    client: {
      // Read when used, as withLogContext does: the client behind it may move to rotated credentials.
      get credentials() {
        return client.credentials;
      },
      errorText: (body, contentType) => client.errorText(body, contentType),
      request: (request) => watched(request, () => client.request(request)),
      stream: (request) => watched(request, () => client.stream(request)),
    },
    mayHaveChanged: () => changed,
  };
}
