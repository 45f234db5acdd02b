import { describe, expect, it } from 'vitest';
import { ACTION_EXAMPLES } from '../../../cli/action-examples.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
import { MAX_URL_VALUE_CHARS } from '../../../shared/actions/params.ts';
import { ACTIONS } from '../../../shared/actions/table.ts';
import type { ActionContext } from '../../../shared/actions/types.ts';
import type { TaniumApi } from '../../../shared/tanium/client.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import type { Vault } from '../../../shared/vault/vault.ts';

/** The method of the first Tanium call `action` makes with its documented example parameters. */
async function firstMethod(action: (typeof ACTIONS)[number]): Promise<string | undefined> {
  let method: string | undefined;
  const stop = async (request: { method: string }): Promise<never> => {
    method ??= request.method;
    throw new TaniumError('tanium', 'stopped after the first call');
  };
  const client = {
    request: stop,
    stream: stop,
    credentials: { baseUrl: 'https://tanium.example.test' },
  } as unknown as TaniumApi;
  const example = ACTION_EXAMPLES[action.id];
  if (!example) throw new Error(`${action.id} has no example in cli/action-examples.ts`);
  const ctx: ActionContext = {
    client,
    deadline: Date.now() + 60_000,
    requestId: 'req-table',
    // Only its presence is checked before the download.
    vault: {} as Vault,
  };
  await executeAction(action, example, ctx);
  return method;
}

describe('Action table', () => {
  it.each(ACTIONS.map((action) => [action.name, action] as const))(
    'marks %s as a delete exactly when its Tanium call is a DELETE',
    async (_name, action) => {
      // Act
      const method = await firstMethod(action);

      // Assess: every action calls Tanium with its example, and the redelivery caveat on a delete's 404
      // relies on the flag (processor.ts)
      expect(method).toBeDefined();
      expect(action.deletes === true).toBe(method === 'DELETE');
    },
  );
});

/** Parameters that never go to Tanium at all. */
const NOT_SENT: Record<string, readonly string[]> = {
  // A key in the vault bucket: the action reads the document from S3.
  upload_intel_doc: ['vault_id'],
};

/** The first Tanium call of `action` run with `raw`, and its result. */
async function firstCall(action: (typeof ACTIONS)[number], raw: Record<string, unknown>) {
  let call: { path: string; query: string } | undefined;
  const stop = async (request: { path: string; query?: URLSearchParams }): Promise<never> => {
    call ??= { path: request.path, query: request.query?.toString() ?? '' };
    throw new TaniumError('tanium', 'stopped after the first call');
  };
  const client = {
    request: stop,
    stream: stop,
    credentials: { baseUrl: 'https://tanium.example.test' },
  } as unknown as TaniumApi;
  const ctx: ActionContext = {
    client,
    deadline: Date.now() + 60_000,
    requestId: 'req-table',
    vault: {} as Vault,
  };
  const result = await executeAction(action, raw, ctx);
  return { call, result };
}

/** Every text or list parameter of every action, with the action's documented example. */
const TEXT_PARAMS = ACTIONS.flatMap((action) =>
  Object.entries(action.params)
    .filter(
      ([name, param]) => ['string', 'list'].includes(param.doc.type) && !NOT_SENT[action.id]?.includes(name),
    )
    .map(([name]) => [action.name, name, action] as const),
);

describe('Parameters in request URLs', () => {
  it.each(TEXT_PARAMS)(
    '%s: a long %s is refused by name, or kept out of the URL',
    async (_action, name, action) => {
      // Arrange: the example's value made far longer than a URL may carry (repeated items for a list)
      const param = action.params[name];
      const example = ACTION_EXAMPLES[action.id] ?? {};
      const given = String(example[name] ?? param?.doc.values?.[0] ?? 'z');
      const long =
        param?.doc.type === 'list'
          ? Array.from({ length: MAX_URL_VALUE_CHARS }, () => given.split(',')[0]).join(',')
          : `${given}${'z'.repeat(MAX_URL_VALUE_CHARS)}`;

      // Act
      const { call, result } = await firstCall(action, { ...example, [name]: long });

      // Assess: refused before any call, naming the parameter, or sent with the value somewhere else
      // (a body, a header)
      const refused = result.error?.kind === 'validation' && result.message.includes(`'${name}' parameter`);
      expect(refused || call !== undefined, result.message).toBe(true);
      if (refused) expect(call).toBeUndefined();
      else expect(`${call?.path}?${call?.query}`).not.toContain('z'.repeat(100));
    },
  );
});
