import { describe, expect, it } from 'vitest';
import { watchWrites } from '../../../shared/events/write-watch.ts';
import type { TaniumApi, TaniumRequest } from '../../../shared/tanium/client.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';

/** A client whose every call ends as `outcome` says. */
function clientEnding(outcome: 'answered' | TaniumError): TaniumApi {
  const call = async () => {
    if (outcome !== 'answered') throw outcome;
    return { status: 200, payload: null, headers: {}, auth: 'token' as const };
  };
  return {
    credentials: {} as TaniumApi['credentials'],
    errorText: (body) => body,
    request: call as TaniumApi['request'],
    stream: call as unknown as TaniumApi['stream'],
  };
}

const refused = (kind: TaniumError['kind'], afterLostAnswer = false) =>
  new TaniumError(kind, `${kind} failure`, { afterLostAnswer });

describe('Watching what a mutating action may have changed in Tanium', () => {
  it.each([
    ['a GET, answered', false, 'GET', 'answered'],
    ['a GET, failed with a 500', false, 'GET', refused('tanium')],
    ['a DELETE refused with a 401', false, 'DELETE', refused('auth')],
    ['a POST refused with a 403', false, 'POST', refused('permission')],
    ['a POST never sent (its URL too long)', false, 'POST', refused('validation')],
    ['a POST never sent (unusable credentials)', false, 'POST', refused('config')],
    ['a POST answered', true, 'POST', 'answered'],
    ['a DELETE refused with a 401 after an attempt got no answer', true, 'DELETE', refused('auth', true)],
    ['a POST failed with a 500', true, 'POST', refused('tanium')],
    ['a POST whose outcome is unknown', true, 'POST', refused('unknown_outcome')],
    ['a DELETE answered 404', true, 'DELETE', refused('not_found')],
  ] as const)('%s: may have changed Tanium, %s', async (_case, changed, method, outcome) => {
    // Arrange
    const watch = watchWrites(clientEnding(outcome));
    const request: TaniumRequest = { method, path: '/x' };

    // Act
    await watch.client.request(request).catch(() => undefined);

    // Assess
    expect(watch.mayHaveChanged()).toBe(changed);
  });

  it('keeps a change once seen, whatever follows', async () => {
    // Arrange
    let answer: 'answered' | TaniumError = 'answered';
    const inner = clientEnding('answered');
    const watch = watchWrites({
      ...inner,
      request: (async (request: TaniumRequest) => {
        if (answer !== 'answered') throw answer;
        return inner.request(request);
      }) as TaniumApi['request'],
    });

    // Act
    await watch.client.request({ method: 'POST', path: '/connect' });
    answer = refused('auth');
    await watch.client.request({ method: 'DELETE', path: '/close' }).catch(() => undefined);

    // Assess
    expect(watch.mayHaveChanged()).toBe(true);
  });
});
