import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ACTIONS } from '../../../shared/actions/table.ts';
import type { Family } from '../../../shared/actions/types.ts';
import { withVault } from '../../../shared/events/vault-family-handler.ts';
import { TaniumClient } from '../../../shared/tanium/client.ts';
import { TaniumError } from '../../../shared/tanium/errors.ts';
import {
  eventBridgeEvent,
  lambdaContext,
  onFailureRecord,
  sqsEvent,
  sqsRecord,
} from '../../helpers/lambda.ts';
import { s3ServiceError } from '../../helpers/s3-errors.ts';
import { historySeeds, seededRandom } from '../../helpers/seeded-random.ts';
import {
  acceptAllEntries,
  buildHandler,
  fakeIdempotencyTable,
  publishedDetails,
  taniumResponse,
} from './fixtures.ts';

/**
 * The edge of every family handler under seeded hostile input: bodies that are not JSON or not objects,
 * megabyte strings, 10,000-level nesting, odd request ids, `__proto__` keys, odd EventBridge envelopes,
 * every action with hostile parameter values (dot segments, `?`, `#`, `%`, control characters, lone
 * surrogates, numbers, objects), by SQS, EventBridge and direct invocation, and batches of mutated
 * bodies. After each: the handler did not throw, retried nothing (no failure is injected), published
 * one result per record (failed, with a message, for bad input), left Object.prototype alone, echoed
 * no secret and no megabyte value in a result or log line, and every Tanium path is encoded.
 */

const eventBridge = mockClient(EventBridgeClient);
const s3 = mockClient(S3Client);
const dynamo = mockClient(DynamoDBClient);
const sqs = mockClient(SQSClient);

const SECRET = 'SeCrEt-TOKEN-9f8e7d6c5b4a';
const FAMILIES: Family[] = ['connections', 'snapshots', 'investigation', 'evidence', 'intel', 'alerts'];
const HUGE = 'H'.repeat(1024 * 1024);
const LONG = 'L'.repeat(5000);

let paths: string[] = [];
const allPaths: string[] = [];

beforeEach(() => {
  acceptAllEntries(eventBridge);
  s3.on(PutObjectCommand).resolves({});
  s3.on(GetObjectCommand).rejects(s3ServiceError('NoSuchKey', 404));
  s3.on(HeadObjectCommand).rejects(s3ServiceError('NotFound', 404));
  fakeIdempotencyTable(dynamo);
  paths = [];
  vi.spyOn(TaniumClient.prototype, 'request').mockImplementation(async (req) => {
    paths.push(req.path);
    if (req.method === 'GET') return taniumResponse(req.path.includes('/groups') ? { id: 7 } : []);
    return taniumResponse({ id: 1 });
  });
  vi.spyOn(TaniumClient.prototype, 'stream').mockImplementation(async (req) => {
    paths.push(req.path);
    throw new TaniumError('not_found', 'no such file', { status: 404 });
  });
});

afterEach(() => {
  eventBridge.reset();
  s3.reset();
  dynamo.reset();
  sqs.reset();
});

function nested(depth: number, kind: 'array' | 'object'): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { k: value };
  return value;
}
function nestedText(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"k":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const ODD_VALUES: unknown[] = [
  '../etc/passwd',
  '%2e%2e',
  '%2e%2e/x',
  '..',
  '.',
  '?x=1',
  '#frag',
  'a b',
  LONG,
  '',
  ' ',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e309',
  '-0',
  '0x10',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '\uDC00x',
  '\u202Eevil',
  'a/b',
  'a%b',
  '%',
  '%zz',
  'a\r\nb',
  '\t',
  0,
  -1,
  1.5,
  1e21,
  Number.MAX_SAFE_INTEGER + 2,
  true,
  null,
  [],
  ['a', '..'],
  {},
  { a: 1 },
  '__proto__',
  'constructor',
  ':',
  '..:',
  '.:',
  ':..',
  '%3A',
  '%2F',
  '\u2028',
  '\uFEFF',
  'ＡＢ',
  '/',
  '//',
  'http://evil/',
  '\\..\\',
  ' .. ',
  '..\u0000',
  'remote:host-a:1:1',
  '12345',
  '123456789012345678901234567890',
  'name with/slash',
];

/** `bad`: must fail; `good`: must succeed (the fixed cases, whose verdict is known); neither: any. */
type Case = {
  label: string;
  family: Family;
  mode: 'sqs' | 'direct' | 'eb';
  body: unknown;
  bad: boolean;
  good?: boolean;
};

function actionCases(rand: () => number, count: number): Case[] {
  const cases: Case[] = [];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  for (let n = 0; n < count; n++) {
    const action = pick(ACTIONS);
    const params: Record<string, unknown> = {};
    for (const key of Object.keys(action.params)) if (rand() < 0.85) params[key] = pick(ODD_VALUES);
    const family = rand() < 0.85 ? action.family : pick(FAMILIES);
    const name = rand() < 0.5 ? action.name : action.id;
    const request = { action: name, parameters: params, requestId: `fz-${n}-${Math.floor(rand() * 1e9)}` };
    const mode = pick(['sqs', 'sqs', 'direct', 'eb'] as const);
    cases.push({
      label: `action#${n} ${JSON.stringify(request).slice(0, 300)}`,
      family,
      mode,
      body: request,
      bad: family !== action.family,
    });
  }
  return cases;
}

function fixedCases(): Case[] {
  const c: Case[] = [];
  const add = (
    label: string,
    body: unknown,
    bad = true,
    family: Family = 'connections',
    modes: ReadonlyArray<Case['mode']> = ['sqs', 'direct'],
  ) => {
    for (const mode of modes) c.push({ label: `${label} [${mode}]`, family, mode, body, bad });
  };
  const list = (requestId: unknown) =>
    `{"action":"list connections","parameters":{},"requestId":${JSON.stringify(requestId)}}`;
  // SQS bodies that are raw text
  for (const text of [
    '',
    ' ',
    'not json',
    '{',
    'null',
    '1',
    '"str"',
    'true',
    '[]',
    '[1,2]',
    'NaN',
    'Infinity',
    '\u0000',
    '\uD800',
  ]) {
    c.push({
      label: `raw ${JSON.stringify(text)}`,
      family: 'connections',
      mode: 'sqs',
      body: text,
      bad: true,
    });
  }
  c.push({
    label: 'raw 1MB string',
    family: 'connections',
    mode: 'sqs',
    body: JSON.stringify(HUGE),
    bad: true,
  });
  c.push({ label: 'raw 1MB garbage', family: 'connections', mode: 'sqs', body: HUGE, bad: true });
  for (const kind of ['array', 'object'] as const) {
    c.push({
      label: `raw nested ${kind} 10000`,
      family: 'connections',
      mode: 'sqs',
      body: nestedText(10000, kind),
      bad: true,
    });
    c.push({
      label: `params nested ${kind} 10000`,
      family: 'connections',
      mode: 'sqs',
      body: `{"action":"list connections","requestId":"deep","parameters":{"x":${nestedText(10000, kind)}}}`,
      bad: true,
    });
    c.push({
      label: `context nested ${kind} 10000`,
      family: 'connections',
      mode: 'sqs',
      body: `{"action":"list connections","requestId":"deepc","parameters":{},"context":${nestedText(10000, kind)}}`,
      bad: true,
    });
    c.push({
      label: `action nested ${kind} 10000 in EB envelope`,
      family: 'connections',
      mode: 'sqs',
      body: `{"version":"0","id":"e1","source":"soar","detail-type":"Action Request","detail":{"action":${nestedText(10000, kind)},"parameters":{}}}`,
      bad: true,
    });
    add(
      `direct nested ${kind} 10000`,
      { action: 'list connections', parameters: { x: nested(10000, kind) } },
      true,
      'connections',
      ['direct'],
    );
    add(
      `direct nested ctx ${kind} 10000`,
      { action: 'close connection', parameters: { connection_id: 'a' }, context: nested(10000, kind) },
      true,
      'connections',
      ['direct'],
    );
    add(
      `direct EB nested ${kind} 10000`,
      eventBridgeEvent({ action: nested(10000, kind), parameters: {} }),
      true,
      'connections',
      ['direct'],
    );
  }
  // requestId variants: [value, bad]. A missing, blank or null one gets one generated; any string is
  // an id; a value of another type or over 256 characters is refused
  const ids: Array<[unknown, boolean]> = [
    [undefined, false],
    ['', false],
    [' ', false],
    [null, false],
    [5, true],
    [true, true],
    [[], true],
    [{}, true],
    [HUGE, true],
    ['x'.repeat(257), true],
    ['\uD800', true],
    ['\u0000', false],
    ['../../x', false],
    ['__proto__', false],
  ];
  for (const [id, bad] of ids) {
    c.push({
      label: `requestId ${typeof id === 'string' ? `${JSON.stringify(id.slice(0, 20))}(len ${id.length})` : JSON.stringify(id)}`,
      family: 'connections',
      mode: 'sqs',
      body: id === undefined ? '{"action":"list connections","parameters":{}}' : list(id),
      bad,
      good: !bad,
    });
  }
  // Keys that could pollute, odd action and parameter shapes, and megabyte values: [body, bad]. An
  // unknown field of the request is refused (`__proto__` included), an unknown parameter is dropped
  // with a warning, and a value too long for its parameter is refused
  const bodies: Array<[string, boolean]> = [
    ['{"__proto__":{"polluted":1},"action":"list connections","parameters":{}}', true],
    ['{"action":"list connections","parameters":{"__proto__":{"polluted":1}}}', false],
    ['{"action":"list connections","parameters":{"constructor":{"prototype":{"polluted":1}}}}', false],
    [
      '{"action":"close connection","parameters":{"__proto__":{"polluted":1},"connection_id":"a"},"requestId":"p1"}',
      false,
    ],
    [
      '{"action":"close connection","parameters":{"connection_id":"a","constructor":{"prototype":{"polluted":1}}},"requestId":"p2"}',
      false,
    ],
    ['{"action":"list connections","parameters":{},"context":{"__proto__":{"polluted":1}}}', false],
    ['{"action":"__proto__","parameters":{}}', true],
    ['{"action":"constructor","parameters":{}}', true],
    ['{"action":"prototype","parameters":{}}', true],
    ['{"action":"toString","parameters":{}}', true],
    ['{"action":"hasOwnProperty","parameters":{}}', true],
    ['{"action":"list connections","parameters":[]}', true],
    ['{"action":"list connections","parameters":"x"}', true],
    ['{"action":"list connections","parameters":5}', true],
    ['{"action":5,"parameters":{}}', true],
    ['{"action":["list connections"],"parameters":{}}', true],
    ['{"action":"list connections","action":"get process","parameters":{}}', true],
    ['{"action":"list connections","parameters":{},"parameters":[]}', true],
    ['{"action":"list connections","parameters":{},"extra":1}', true],
    ['{"action":"   ","parameters":{}}', true],
    ['{"action":"\u202Elist connections","parameters":{}}', true],
    ['{"action":"list\\u0000connections","parameters":{}}', true],
    ['{"action":"nope","parameters":{}}', true],
    ['{"action":"get process","parameters":{}}', true],
    [`{"action":"${HUGE}","parameters":{}}`, true],
    [`{"action":"list connections","parameters":{"${'k'.repeat(300000)}":1}}`, false],
    [`{"action":"list connections","parameters":{"x":"${HUGE}"}}`, false],
    [`{"action":"list connections","parameters":{},"context":"${HUGE}"}`, false],
    [`{"action":"close connection","parameters":{"connection_id":"${HUGE}"},"requestId":"huge-cid"}`, true],
  ];
  for (const [body, bad] of bodies) {
    c.push({
      label: `body ${body.slice(0, 160)}`,
      family: 'connections',
      mode: 'sqs',
      body,
      bad,
      good: !bad,
    });
  }
  // EventBridge envelopes in SQS bodies with odd details
  for (const detail of [undefined, null, 5, 'str', [], [1], { action: 'list connections' }, HUGE]) {
    const env = { version: '0', id: 'ev-1', source: 'soar', 'detail-type': 'Action Request', detail };
    c.push({
      label: `EB detail ${JSON.stringify(detail)?.slice(0, 40)}`,
      family: 'connections',
      mode: 'sqs',
      body: env,
      bad: !(
        detail &&
        typeof detail === 'object' &&
        !Array.isArray(detail) &&
        'action' in detail &&
        typeof (detail as { action: unknown }).action === 'string'
      ),
    });
  }
  c.push({
    label: 'EB detail-type number',
    family: 'connections',
    mode: 'sqs',
    body: { source: 'x', 'detail-type': 5, detail: {} },
    bad: true,
  });
  c.push({
    label: 'on-failure record wrapping garbage',
    family: 'connections',
    mode: 'sqs',
    body: onFailureRecord('garbage'),
    bad: true,
  });
  c.push({
    label: 'on-failure record wrapping deep',
    family: 'connections',
    mode: 'sqs',
    body: `{"version":"1","requestContext":{"functionArn":"x","requestId":"r"},"requestPayload":${nestedText(10000, 'object')}}`,
    bad: true,
  });
  // direct invocations with odd events
  for (const ev of [
    null,
    undefined,
    0,
    'str',
    [],
    [1],
    { Records: [] },
    { Records: [{}] },
    { Records: 'x' },
    { Records: [{ eventSource: 'aws:sqs' }] },
    { Records: [{ eventSource: 'aws:sqs', body: 5, messageId: 'm1' }] },
    { Records: [{ eventSource: 'aws:sqs', body: { action: 'list connections' }, messageId: 'm2' }] },
    { Records: [{ eventSource: 'aws:sqs', body: null, messageId: 'm3' }] },
    { source: 'x', 'detail-type': 'y', detail: undefined },
    { source: 'x', 'detail-type': 'y', detail: null },
    { source: 'x', 'detail-type': 'y', detail: HUGE },
  ]) {
    c.push({
      label: `direct event ${JSON.stringify(ev)?.slice(0, 80)}`,
      family: 'connections',
      mode: 'direct',
      body: ev,
      bad: true,
    });
  }
  return c;
}

function longestRun(text: string, char: string): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === char) {
      run++;
      if (run > best) best = run;
    } else run = 0;
  }
  return best;
}

function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'does not start with /';
  if ([...path].some((char) => char.charCodeAt(0) < 0x20 || char === '\u007f' || /\s/.test(char)))
    return 'control or space';
  if (/[?#]/.test(path)) return '? or #';
  if (path.includes('//') || path.endsWith('/')) return 'empty segment';
  if (/(^|\/)\.\.?(\/|$)/.test(path)) return 'dot segment';
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return 'bare %';
  if (/[^\x21-\x7e]/.test(path)) return 'non-ASCII';
  for (const seg of path.split('/')) {
    try {
      const decoded = decodeURIComponent(seg);
      if (decoded === '..' || decoded === '.') return `segment decodes to ${decoded}`;
    } catch {
      return 'undecodable segment';
    }
  }
  return undefined;
}

async function runCase(kase: Case): Promise<string[]> {
  const problems: string[] = [];
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).length;
  eventBridge.resetHistory();
  paths = [];
  const opts = { token: () => SECRET };
  const kit =
    kase.family === 'evidence' || kase.family === 'intel'
      ? buildHandler(kase.family, {
          ...withVault({ s3Client: new S3Client({ region: 'us-east-1' }) }),
          ...opts,
        })
      : buildHandler(kase.family, opts);
  let response: unknown;
  let threw: unknown;
  try {
    if (kase.mode === 'sqs') {
      const record = sqsRecord(kase.body);
      response = await kit.handler(sqsEvent(record), lambdaContext());
      const failures = (response as SQSBatchResponse).batchItemFailures ?? [];
      if (failures.length > 0)
        problems.push(
          `batchItemFailures ${JSON.stringify(failures).slice(0, 100)} (logs: ${JSON.stringify(kit.logs.filter((l) => l.level === 'error')).slice(0, 600)})`,
        );
    } else if (kase.mode === 'eb') {
      response = await kit.handler(eventBridgeEvent(kase.body), lambdaContext());
    } else {
      response = await kit.handler(kase.body, lambdaContext());
    }
  } catch (error) {
    threw = error;
    problems.push(`threw ${String((error as Error)?.message ?? error).slice(0, 300)}`);
  }
  const details = publishedDetails(eventBridge);
  if (!threw && details.length !== 1) problems.push(`published ${details.length} results`);
  for (const d of details) {
    if (kase.bad && d.status !== 'failed') problems.push(`bad input got status ${d.status}`);
    if (kase.good && d.status !== 'success')
      problems.push(`good input got status ${d.status}: ${d.message?.slice(0, 160)}`);
    if (d.status === 'failed' && !(typeof d.message === 'string' && d.message.length > 0))
      problems.push('failed without message');
  }
  if (({} as Record<string, unknown>).polluted !== undefined) problems.push('Object.prototype polluted');
  if (Object.getOwnPropertyNames(Object.prototype).length !== protoKeys)
    problems.push('Object.prototype changed');
  const outputs = [
    ...details.map(
      (d) =>
        [
          'detail',
          JSON.stringify({ ...d, parameter: undefined, parameters: undefined, context: undefined }),
        ] as const,
    ),
    ...kit.logs.map(
      (l) => [`log ${l.level} ${l.message.slice(0, 60)}`, `${l.message} ${JSON.stringify(l.extra)}`] as const,
    ),
    [
      'response',
      threw
        ? String((threw as Error).message)
        : (JSON.stringify({
            ...(response as object),
            parameter: undefined,
            parameters: undefined,
            context: undefined,
          }) ?? ''),
    ] as const,
  ];
  for (const [where, text] of outputs) {
    if (text.includes(SECRET)) problems.push(`secret in ${where}`);
    for (const ch of ['H', 'L', 'k']) {
      const run = longestRun(text, ch);
      if (run > 1024) problems.push(`${where} echoes a run of ${run} '${ch}'`);
    }
    if (text.length > 300_000) problems.push(`${where} is ${text.length} chars`);
  }
  allPaths.push(...paths);
  for (const p of paths) {
    const bad = pathProblem(p);
    if (bad) problems.push(`Tanium path ${bad}: ${p.slice(0, 200)}`);
    if (p.length > 8000) problems.push(`Tanium path ${p.length} chars`);
  }
  return problems;
}

const MUTATE = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ',',
  ':',
  '\\',
  '\u0000',
  ' ',
  '1',
  '-',
  'e',
  'null',
  '__proto__',
  '"__proto__":{}',
  '/',
  '%',
  '..',
  '\uD800',
];
function mutatedBatch(
  rand: () => number,
  n: number,
): Array<{ body: string; receiveCount: number; messageId: string }> {
  const bases = [
    `{"action":"close connection","parameters":{"connection_id":"c-${n}"},"requestId":"m-${n}"}`,
    `{"action":"list connections","parameters":{},"requestId":"l-${n}"}`,
    `{"version":"0","id":"e-${n}","source":"s","detail-type":"Action Request","detail":{"action":"delete connection","parameters":{"connection_id":"d/${n}"}}}`,
    JSON.stringify(
      onFailureRecord(
        { action: 'create connection', parameters: { destination: 'h', destination_type: 'hostname' } },
        { requestId: `of-${n}` },
      ),
    ),
  ];
  const size = 1 + Math.floor(rand() * 4);
  const out = [];
  for (let i = 0; i < size; i++) {
    let body = bases[Math.floor(rand() * bases.length)] as string;
    const edits = Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * body.length);
      const op = rand();
      if (op < 0.4) body = body.slice(0, at) + body.slice(at + 1);
      else body = body.slice(0, at) + MUTATE[Math.floor(rand() * MUTATE.length)] + body.slice(at);
    }
    out.push({
      body,
      receiveCount: 1 + Math.floor(rand() * 3),
      messageId: rand() < 0.2 ? 'same-id' : `mid-${n}-${i}`,
    });
  }
  return out;
}

describe('Family handler: malformed and hostile input (seeded fuzz)', () => {
  it('answers each record of batches of mutated bodies once, and retries none', async () => {
    const found: string[] = [];
    for (const seed of historySeeds(400)) {
      const n = seed - 1;
      const rand = seededRandom(1000 + n);
      const batch = mutatedBatch(rand, n);
      eventBridge.resetHistory();
      paths = [];
      const kit = buildHandler('connections', { token: () => SECRET });
      const problems: string[] = [];
      try {
        const response = (await kit.handler(
          sqsEvent(
            ...batch.map((b) => sqsRecord(b.body, { receiveCount: b.receiveCount, messageId: b.messageId })),
          ),
          lambdaContext(),
        )) as SQSBatchResponse;
        if (response.batchItemFailures.length)
          problems.push(
            `failures ${JSON.stringify(response.batchItemFailures)} ${JSON.stringify(kit.logs.filter((l) => l.level !== 'debug')).slice(0, 800)}`,
          );
      } catch (error) {
        problems.push(`threw ${(error as Error).message}`);
      }
      // Every record is answered once, whatever the mutation made of it
      const details = publishedDetails(eventBridge);
      if (details.length !== batch.length)
        problems.push(
          `published ${details.length} for ${batch.length} records: ${JSON.stringify(details.map((d) => [d.requestId, d.status, d.message?.slice(0, 120)]))}`,
        );
      for (const p of paths) {
        const bad = pathProblem(p);
        if (bad) problems.push(`path ${bad}: ${p}`);
      }
      if (({} as Record<string, unknown>).polluted !== undefined) problems.push('polluted');
      for (const l of kit.logs) if (JSON.stringify(l).includes(SECRET)) problems.push('secret in log');
      if (problems.length) found.push(`n=${n} ${JSON.stringify(batch)}\n    ${problems.join('\n    ')}`);
    }
    expect(found).toEqual([]);
  }, 300_000);

  it('keeps every invariant for bodies, ids, envelopes and nesting at the edges', async () => {
    const found: string[] = [];
    for (const kase of fixedCases()) {
      const problems = await runCase(kase);
      if (problems.length) found.push(`${kase.label.slice(0, 200)}\n    ${problems.join('\n    ')}`);
    }
    expect(found).toEqual([]);
  }, 300_000);

  it('keeps every invariant for every action with hostile parameter values, by SQS, EventBridge and direct call', async () => {
    const found: string[] = [];
    for (const seed of historySeeds(25)) {
      for (const kase of actionCases(seededRandom(seed), 120)) {
        const problems = await runCase(kase);
        if (problems.length)
          found.push(
            `seed ${seed} ${kase.mode} ${kase.family} ${kase.label.slice(0, 400)}\n    ${problems.join('\n    ')}`,
          );
      }
    }
    expect(found).toEqual([]);
    // Not vacuous: hostile values did reach Tanium's paths, encoded
    const odd = allPaths.filter((p) => /%|:/.test(p.split('/').slice(7).join('/')));
    expect(odd.length).toBeGreaterThan(100);
  }, 300_000);
});
