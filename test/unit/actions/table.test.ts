import { describe, expect, it } from 'vitest';
import { ACTION_EXAMPLES } from '../../../cli/action-examples.ts';
import { executeAction, validateParams } from '../../../shared/actions/execute.ts';
import { integer, MAX_URL_VALUE_CHARS } from '../../../shared/actions/params.ts';
import { ACTIONS, findAction } from '../../../shared/actions/table.ts';
import { type ActionContext, type ActionOutcome, defineAction } from '../../../shared/actions/types.ts';
import type { TaniumApi } from '../../../shared/tanium/client.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import type { Vault } from '../../../shared/vault/vault.ts';

/** `action`'s documented example parameters (cli/action-examples.ts). */
function exampleOf(action: (typeof ACTIONS)[number]): Record<string, string | number> {
  const example = ACTION_EXAMPLES[action.id];
  if (!example) throw new Error(`${action.id} has no example in cli/action-examples.ts`);
  return example;
}

/** The first Tanium call of `action` run with `raw` (stopped there), and its result. */
async function firstCall(action: (typeof ACTIONS)[number], raw: Record<string, unknown>) {
  let call: { method: string; path: string; query: string } | undefined;
  const stop = async (request: { method: string; path: string; query?: URLSearchParams }): Promise<never> => {
    call ??= { method: request.method, path: request.path, query: request.query?.toString() ?? '' };
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
    // Only that it can store files is checked before the download.
    vault: { storeArchive: stop } as unknown as Vault,
  };
  const result = await executeAction(action, raw, ctx);
  return { call, result };
}

describe('Action table', () => {
  it.each(ACTIONS.map((action) => [action.name, action] as const))(
    'marks %s as a delete exactly when its Tanium call is a DELETE',
    async (_name, action) => {
      // Act
      const { call } = await firstCall(action, exampleOf(action));
      const method = call?.method;

      // Assess: every action calls Tanium with its example, and the redelivery caveat on a delete's 404
      // relies on the flag (processor.ts)
      expect(method).toBeDefined();
      expect(action.deletes === true).toBe(method === 'DELETE');
    },
  );

  it.each([[' Get Process Tree\t'], ['GET_PROCESS_TREE'], ['get  process\ttree'], ['get_process tree']])(
    'finds get process tree by %j',
    (spelling) => {
      expect(findAction(spelling)?.id).toBe('get_process_tree');
    },
  );

  it("takes no parameter named context, SOAR's own, which no warning names and no requestId check compares", () => {
    // Assess: isSoarContext, ignoredParamNames, the idempotency hash
    expect(ACTIONS.filter((action) => Object.hasOwn(action.params, 'context'))).toEqual([]);
  });
});

/** Parameters that never go to Tanium at all. */
const NOT_SENT: Record<string, readonly string[]> = {
  // A key in the vault bucket: the action reads the document from S3.
  upload_intel_doc: ['vault_id'],
};

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
      // Arrange: the example's value made far longer than a URL may carry; a list gets many items, each
      // an allowed value, or distinct where any value goes, so that de-duplication keeps them all
      const param = action.params[name];
      const example = exampleOf(action);
      const given = String(example[name] ?? param?.doc.values?.[0] ?? 'z');
      const item = (index: number) =>
        param?.doc.values ? given.split(',')[0] : `${given.split(',')[0]}${index}`;
      const long =
        param?.doc.type === 'list'
          ? Array.from({ length: MAX_URL_VALUE_CHARS }, (_, index) => item(index)).join(',')
          : `${given}${'z'.repeat(MAX_URL_VALUE_CHARS)}`;

      // Act
      const { call, result } = await firstCall(action, { ...example, [name]: long });

      // Assess: refused before any call, naming the parameter, or sent with the value somewhere else
      // (a body, a header)
      const refused = result.error?.kind === 'validation' && result.message.includes(`'${name}' parameter`);
      expect(refused || call !== undefined, result.message).toBe(true);
      if (refused) expect(call).toBeUndefined();
      // The example's own URL is far shorter than one parameter's limit
      else expect(`${call?.path}?${call?.query}`.length).toBeLessThan(MAX_URL_VALUE_CHARS);
    },
  );
});

/** For each action with rules beyond its parameters' types (`check`), input those rules refuse. */
const REFUSED_BY_CHECK: Record<string, { params: Record<string, unknown>; message: string }> = {
  start_quick_scan: {
    params: { intel_doc_id: 1, computer_group_name: '9007199254740993' },
    message: 'Please provide a valid integer value in the computer_group_name parameter',
  },
  get_events: {
    params: { connection_id: 'remote:host:1:1', event_type: 'process', fields: 'pid' },
    message: "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
  },
  get_events_summary: {
    params: { connection_id: 'remote:host:1:1', event_type: 'process', fields: 'pid', operators: 'eq' },
    message: "Parameters 'fields', 'operators' and 'values' must all be provided to filter events",
  },
  list_alerts: {
    params: { query: 'state=unresolved&priority=high&'.repeat(200) },
    message: "Please provide a shorter value in the 'query' parameter",
  },
  upload_intel_doc: {
    params: { intel_doc: 'rule a { condition: true }', vault_id: 'a'.repeat(40), file_name: 'a.yara' },
    message: "Please provide either 'intel_doc' or 'vault_id', not both",
  },
};

describe("Rules of an action beyond its parameters' types", () => {
  it('has a refused example for every action that checks such rules', () => {
    expect(
      ACTIONS.filter((action) => action.check)
        .map((action) => action.id)
        .sort(),
    ).toEqual(Object.keys(REFUSED_BY_CHECK).sort());
  });

  it.each(Object.entries(REFUSED_BY_CHECK))(
    '%s: refused with the parameters, before anything is called',
    (id, { params, message }) => {
      const action = ACTIONS.find((candidate) => candidate.id === id);
      if (!action) throw new Error(`no action ${id}`);

      // Act: validateParams has nothing to call; the processor and the CLI refuse on its answer
      const validated = validateParams(action, params);

      // Assess
      expect(validated).toMatchObject({ ok: false, kind: 'validation' });
      expect(validated.ok ? '' : validated.message).toContain(message);
    },
  );
});

/** An action with one integer parameter, `count`, whose run and rules are the test's own. */
function probeAction(run: () => Promise<ActionOutcome>, check?: () => void) {
  return defineAction({
    name: 'probe',
    id: 'probe',
    family: 'alerts',
    readOnly: true,
    description: 'A probe',
    params: { count: integer('count', { default: 1, description: 'A count' }) },
    run,
    ...(check ? { check } : {}),
  });
}

const probeCtx = (): ActionContext => ({
  client: {} as TaniumApi,
  deadline: Date.now() + 60_000,
  requestId: 'req-probe',
});

describe('Running an action', () => {
  it('answers parameters its types refuse with a failed result and nothing else, as they were sent', async () => {
    // Arrange
    const raw = { count: 'many', note: 'kept' };

    // Act
    const result = await executeAction(
      probeAction(async () => ({ message: 'ran' })),
      raw,
      probeCtx(),
    );

    // Assess
    expect(result).toEqual({
      status: 'failed',
      message: 'Please provide a valid integer value in the count parameter',
      parameter: raw,
      data: [],
      summary: {},
      error: { kind: 'validation', retryable: false },
    });
  });

  it.each([
    ['a fault in the rules themselves', new TypeError('rules broke')],
    ['a retryable failure', new TaniumError('tanium', 'try later', { retryable: true })],
  ])('leaves %s to the caller, instead of refusing the request', (_, thrown) => {
    // Arrange
    const action = probeAction(
      async () => ({ message: 'ran' }),
      () => {
        throw thrown;
      },
    );

    // Act / Assess
    expect(() => validateParams(action, { count: 2 })).toThrow(thrown);
  });

  it.each([
    [true, { retryAfterMs: 5000 }],
    [false, {}],
  ])(
    'keeps the wait Tanium asked for only on a retryable failure (retryable: %s)',
    async (retryable, more) => {
      // Arrange
      const error = new TaniumError('tanium', 'Tanium is busy', {
        retryable,
        status: 503,
        retryAfterMs: 5000,
      });

      // Act
      const result = await executeAction(
        probeAction(async () => {
          throw error;
        }),
        { count: 2 },
        probeCtx(),
      );

      // Assess
      expect(result).toEqual({
        status: 'failed',
        message: 'Tanium is busy',
        parameter: { count: 2 },
        data: [],
        summary: {},
        error: { kind: 'tanium', retryable },
        ...more,
      });
    },
  );

  it('names the parameters it ignored on a success only', async () => {
    // Arrange: the same misspelt parameter, once on a run that works and once on one that fails
    const raw = { count: 2, cuont: 3 };
    const failure = new TaniumError('tanium', 'Tanium said no');

    // Act
    const succeeded = await executeAction(
      probeAction(async () => ({ message: 'ran' })),
      raw,
      probeCtx(),
    );
    const failed = await executeAction(
      probeAction(async () => {
        throw failure;
      }),
      raw,
      probeCtx(),
    );

    // Assess
    expect(succeeded.summary).toEqual({
      ignored_parameters: ['cuont'],
      likely_parameters: { cuont: 'count' },
    });
    expect(failed.summary).toEqual({});
  });

  it('suggests no parameter for an ignored name that is no typo of one', async () => {
    // Act
    const result = await executeAction(
      probeAction(async () => ({ message: 'ran' })),
      { count: 2, colour: 'red' },
      probeCtx(),
    );

    // Assess: no empty map for a playbook to read
    expect(result.summary).toEqual({ ignored_parameters: ['colour'] });
  });
});
