import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ActionInfo } from '../../../cli/actions-list.ts';
import type { ActionResult } from '../../../shared/actions/types.ts';

// The servers, the actions and their examples are stand-ins: what is under test is how the docs render
// what the actions return, and that everything started is stopped.
const servers = vi.hoisted(() => ({
  emulator: { reset: vi.fn(), close: vi.fn(async () => undefined) },
  startEmulator: vi.fn(),
  moto: { applyEnv: vi.fn(), stop: vi.fn(async () => undefined) },
  closeAgents: vi.fn(async () => undefined),
  executeAction: vi.fn(),
  infos: [] as ActionInfo[],
  examples: {} as Record<string, Record<string, unknown>>,
  differences: {} as Record<string, readonly string[]>,
}));
vi.mock('../../../test/helpers/tanium.ts', () => ({
  startTestEmulator: servers.startEmulator,
  clientFor: () => ({}),
  contextFor: () => ({}),
}));
vi.mock('../../../test/helpers/moto.ts', () => ({ startMoto: vi.fn(async () => servers.moto) }));
vi.mock('../../../shared/tanium/agent.ts', () => ({ closeAgents: servers.closeAgents }));
vi.mock('../../../shared/actions/execute.ts', () => ({ executeAction: servers.executeAction }));
vi.mock('../../../cli/action-examples.ts', () => ({ ACTION_EXAMPLES: servers.examples }));
vi.mock('../../../cli/connector-differences.ts', () => ({ CONNECTOR_DIFFERENCES: servers.differences }));
vi.mock('../../../cli/actions-list.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../cli/actions-list.ts')>()),
  actionInfos: () => servers.infos,
}));
vi.mock('../../../shared/actions/table.ts', () => ({ findAction: (id: string) => ({ id }) }));

const { DOCS_END, DOCS_START, generateActionDocs, writeReadmeDocs } = await import('../../../cli/docs.ts');

const s3 = mockClient(S3Client);

const LIST: ActionInfo = {
  name: 'list things',
  id: 'list_things',
  family: 'connections',
  readOnly: true,
  description: 'Lists things.',
  parameters: [],
};
const DELETE: ActionInfo = {
  name: 'delete thing',
  id: 'delete_thing',
  family: 'snapshots',
  readOnly: false,
  changes: 'Tanium',
  description: 'Deletes a thing.',
  parameters: [
    {
      name: 'kind',
      type: 'enum',
      required: true,
      values: ['a', 'b'],
      description: 'Which | kind\nof thing.',
    },
    {
      name: 'limit',
      type: 'integer',
      required: false,
      min: 1,
      max: 50,
      default: 10,
      description: 'At most.',
    },
    { name: 'id', type: 'string', required: false, description: 'The id.' },
  ],
};

function result(data: unknown[], status: ActionResult['status'] = 'success'): ActionResult {
  return {
    status,
    message: `${data.length} found`,
    summary: { count: data.length },
    data,
  } as unknown as ActionResult;
}

beforeEach(() => {
  vi.clearAllMocks();
  servers.startEmulator.mockResolvedValue(servers.emulator);
  s3.reset();
  servers.infos = [LIST, DELETE];
  for (const key of Object.keys(servers.examples)) delete servers.examples[key];
  Object.assign(servers.examples, { list_things: {}, delete_thing: { kind: 'a' } });
  for (const key of Object.keys(servers.differences)) delete servers.differences[key];
  Object.assign(servers.differences, {
    delete_thing: ['Deletes only the thing named.', 'Adds `summary.count`.'],
  });
  servers.executeAction.mockImplementation(async (action: { id: string }) =>
    action.id === 'list_things' ? result([{ n: 1 }, { n: 2 }, { n: 3 }]) : result([{ n: 1 }, { n: 2 }]),
  );
});

describe('generateActionDocs', () => {
  it('lists the actions, then documents each with its parameters and the result of its example', async () => {
    const docs = await generateActionDocs();

    expect(docs).toBe(
      [
        DOCS_START,
        '',
        '| action | identifier | family | read-only |',
        '|---|---|---|---|',
        '| [list things](#list_things) | `list_things` | connections | yes |',
        '| [delete thing](#delete_thing) | `delete_thing` | snapshots | no |',
        '',
        '<a id="list_things"></a>',
        '#### list things (`list_things`)',
        '',
        'Lists things. Family `connections`, read-only.',
        '',
        '_No parameters._',
        '',
        '<details><summary>Example</summary>',
        '',
        '```json',
        '{"action":"list things","parameters":{}}',
        '```',
        '',
        '```json',
        '{',
        '  "status": "success",',
        '  "message": "3 found",',
        '  "summary": {',
        '    "count": 3',
        '  },',
        '  "data": [',
        '    {',
        '      "n": 1',
        '    }',
        '  ]',
        '}',
        '```',
        '',
        '_2 more `data` items not shown._',
        '',
        '</details>',
        '',
        '<a id="delete_thing"></a>',
        '#### delete thing (`delete_thing`)',
        '',
        'Deletes a thing. Family `snapshots`, changes Tanium (idempotent per requestId).',
        '',
        '| parameter | type | required | default | description |',
        '|---|---|---|---|---|',
        '| `kind` | enum: `a`, `b` | yes |  | Which \\| kind of thing. |',
        '| `limit` | integer (1 to 50) | no | `10` | At most. |',
        '| `id` | string | no |  | The id. |',
        '',
        '**Differs from the connector:**',
        '',
        '- Deletes only the thing named.',
        '- Adds `summary.count`.',
        '',
        '<details><summary>Example</summary>',
        '',
        '```json',
        '{"action":"delete thing","parameters":{"kind":"a"}}',
        '```',
        '',
        '```json',
        '{',
        '  "status": "success",',
        '  "message": "2 found",',
        '  "summary": {',
        '    "count": 2',
        '  },',
        '  "data": [',
        '    {',
        '      "n": 1',
        '    }',
        '  ]',
        '}',
        '```',
        '',
        '_1 more `data` item not shown._',
        '',
        '</details>',
        '',
        DOCS_END,
      ].join('\n'),
    );
  });

  it('says nothing of left-out items when the example returned one or none', async () => {
    servers.executeAction.mockImplementation(async (action: { id: string }) =>
      action.id === 'list_things' ? result([{ n: 1 }]) : result([]),
    );

    const docs = await generateActionDocs();

    expect(docs).not.toContain('not shown');
    expect(docs).toContain('"data": []\n}\n```\n\n</details>');
  });

  it('runs each example against a reset emulator, in the vault bucket it created', async () => {
    await generateActionDocs();

    expect(servers.emulator.reset).toHaveBeenCalledTimes(2);
    const [createBucket] = s3.commandCalls(CreateBucketCommand);
    if (!createBucket) throw new Error('no CreateBucket call');
    expect(createBucket.args[0].input).toEqual({ Bucket: 'tanium-tr-vault-example' });
    // Moto on loopback has no host name per bucket: the bucket goes in the path.
    expect((createBucket.thisValue as S3Client).config.forcePathStyle).toBe(true);
    expect(servers.moto.applyEnv).toHaveBeenCalledOnce();
    const [, example, context] = servers.executeAction.mock.calls[1] ?? [];
    expect(example).toEqual({ kind: 'a' });
    expect(context).toMatchObject({ requestId: 'example-request' });
    expect(context.vault).toBeDefined();
  });

  it('fails on an action with no example, and stops what it started', async () => {
    delete servers.examples.delete_thing;
    const saved = { ...process.env };
    servers.moto.applyEnv.mockImplementation(() => {
      process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    });

    await expect(generateActionDocs()).rejects.toThrow(
      'No docs example for action delete_thing in cli/action-examples.ts',
    );

    expect(process.env).toEqual(saved);
    expect(Object.keys(process.env).length).toBeGreaterThan(0);
    expect(servers.closeAgents).toHaveBeenCalledOnce();
    expect(servers.emulator.close).toHaveBeenCalledOnce();
    expect(servers.moto.stop).toHaveBeenCalledOnce();
  });

  it('closes the emulator when moto cannot start, and reports why moto did not', async () => {
    const { startMoto } = await import('../../../test/helpers/moto.ts');
    vi.mocked(startMoto).mockRejectedValueOnce(new Error("moto's server is not available to python3"));

    await expect(generateActionDocs()).rejects.toThrow("moto's server is not available to python3");

    expect(servers.emulator.close).toHaveBeenCalledOnce();
  });

  it('lists no differences for an action whose entry is empty', async () => {
    servers.differences.delete_thing = [];

    const docs = await generateActionDocs();

    expect(docs).not.toContain('Differs from the connector');
  });

  it('fails on differences listed for an action the table does not have, before starting any server', async () => {
    servers.differences.list_thing = ['A typo of list_things.'];
    const { startMoto } = await import('../../../test/helpers/moto.ts');

    await expect(generateActionDocs()).rejects.toThrow(
      'cli/connector-differences.ts names no action of the table: list_thing',
    );

    expect(servers.startEmulator).not.toHaveBeenCalled();
    expect(startMoto).not.toHaveBeenCalled();
  });

  it('fails on an example that does not succeed, saying why', async () => {
    servers.executeAction.mockResolvedValue({ ...result([]), status: 'failed', message: 'no such thing' });

    await expect(generateActionDocs()).rejects.toThrow(
      'The docs example of list_things failed: no such thing',
    );
  });
});

describe('writeReadmeDocs', () => {
  it('replaces only the generated section of the README', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-'));
    try {
      const readme = join(dir, 'README.md');
      writeFileSync(readme, `# Title\n\n${DOCS_START}\nold\n${DOCS_END}\n\nAfter.\n`);

      await writeReadmeDocs(readme);

      const written = readFileSync(readme, 'utf8');
      expect(written.startsWith(`# Title\n\n${DOCS_START}\n\n| action |`)).toBe(true);
      expect(written.endsWith(`</details>\n\n${DOCS_END}\n\nAfter.\n`)).toBe(true);
      expect(written).not.toContain('old');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replaces a generated section at the very start of the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-'));
    try {
      const readme = join(dir, 'README.md');
      writeFileSync(readme, `${DOCS_START}\nold\n${DOCS_END}\n`);

      await writeReadmeDocs(readme);

      expect(readFileSync(readme, 'utf8')).toBe(`${await generateActionDocs()}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a README without the markers, or with them the wrong way round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-'));
    try {
      const readme = join(dir, 'README.md');
      for (const text of ['# Title\n', `${DOCS_START}\n`, `${DOCS_END}\n${DOCS_START}\n`]) {
        writeFileSync(readme, text);

        await expect(writeReadmeDocs(readme)).rejects.toThrow(
          'README.md has no generated actions section markers',
        );
        expect(readFileSync(readme, 'utf8')).toBe(text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
