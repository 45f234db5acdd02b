import { describe, expect, it } from 'vitest';
import { ACTION_EXAMPLES } from '../../../cli/action-examples.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
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
