import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeToNewQueue } from '../../../cli/local/aws-resources.ts';
import {
  FAMILIES,
  type Family,
  familyRequestPattern,
  type RequestPattern,
  unroutedRequestPattern,
} from '../../../infra/families.ts';
import { actionsOf } from '../../../shared/actions/table.ts';
import { type MotoServer, startMoto } from '../../helpers/moto.ts';
import { drainQueue } from '../../helpers/queues.ts';

/** PutRule refuses a longer pattern. */
const MAX_PATTERN_CHARS = 4096;
const ACCEPTED_SOURCE = 'soar.pipeline';

const spellings = FAMILIES.flatMap((family: Family) =>
  actionsOf(family).flatMap(
    ({ name, id }): Array<[string, Family]> => [
      [name, family],
      [id, family],
      [name.toUpperCase(), family],
    ],
  ),
);
const unrouted: Array<[string, Record<string, unknown>]> = [
  ['an unknown action', { action: 'reboot endpoint' }],
  ['an empty action', { action: '' }],
  ['no action', { parameters: {} }],
  ['a number for an action', { action: 7 }],
  ['a null action', { action: null }],
  ['a boolean for an action', { action: true }],
  ['an object for an action', { action: { name: 'list connections' } }],
];

/** The pattern as PutRule takes it (`detail-type`, not CDK's `detailType`). */
function wire(pattern: RequestPattern): Record<string, unknown> {
  const { detailType, ...rest } = pattern;
  return { ...rest, 'detail-type': detailType };
}

let moto: MotoServer;
let eventBridge: EventBridgeClient;
let sqs: SQSClient;
/** For each event (by its `detail.tag`) the rules that delivered it, on each bus. */
const delivered = { open: new Map<string, string[]>(), restricted: new Map<string, string[]>() };

/**
 * A bus with the stack's request rules, each delivering into a queue of its own, as EventBridge (here
 * moto) matches them. `sources` is the environment's `requestSources`.
 */
async function busWithRules(name: string, sources: readonly string[]): Promise<Map<string, string>> {
  await eventBridge.send(new CreateEventBusCommand({ Name: name }));
  const rules: Array<[string, RequestPattern]> = [
    ...FAMILIES.map((family): [string, RequestPattern] => [family, familyRequestPattern(family, sources)]),
    ['unrouted', unroutedRequestPattern(sources)],
  ];
  const queues = new Map<string, string>();
  for (const [rule, pattern] of rules) {
    const queue = await routeToNewQueue(
      { sqs, eventBridge },
      { bus: name, name: `${name}-${rule}`, pattern: wire(pattern) },
    );
    queues.set(rule, queue.url);
  }
  return queues;
}

async function send(
  bus: string,
  entries: Array<{ tag: string; detail: Record<string, unknown>; source: string }>,
) {
  for (let i = 0; i < entries.length; i += 10) {
    const batch: PutEventsRequestEntry[] = entries.slice(i, i + 10).map((entry) => ({
      EventBusName: bus,
      Source: entry.source,
      DetailType: 'Action Request',
      Detail: JSON.stringify({ ...entry.detail, tag: entry.tag }),
    }));
    const { FailedEntryCount } = await eventBridge.send(new PutEventsCommand({ Entries: batch }));
    expect(FailedEntryCount).toBe(0);
  }
}

async function drain(queues: Map<string, string>, into: Map<string, string[]>): Promise<void> {
  for (const [rule, url] of queues) {
    for (const event of await drainQueue<{ detail?: { tag?: string } }>(sqs, url)) {
      const tag = String(event.detail?.tag);
      into.set(tag, [...(into.get(tag) ?? []), rule]);
    }
  }
}

beforeAll(async () => {
  moto = await startMoto();
  moto.applyEnv();
  eventBridge = new EventBridgeClient({});
  sqs = new SQSClient({});
  const open = await busWithRules('open', []);
  const restricted = await busWithRules('restricted', [ACCEPTED_SOURCE]);
  const events = [
    ...spellings.map(([action]) => ({ tag: `action:${action}`, detail: { action, parameters: {} } })),
    ...unrouted.map(([what, detail]) => ({ tag: what, detail })),
  ];
  await send(
    'open',
    events.map((event) => ({ ...event, source: ACCEPTED_SOURCE })),
  );
  await send('restricted', [
    { tag: 'accepted', detail: { action: 'list connections' }, source: ACCEPTED_SOURCE },
    { tag: 'other routed', detail: { action: 'list connections' }, source: 'other' },
    { tag: 'other unrouted', detail: { action: 'nope' }, source: 'other' },
  ]);
  await drain(open, delivered.open);
  await drain(restricted, delivered.restricted);
}, 60_000);

afterAll(async () => {
  eventBridge?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

describe('Routing action requests on the bus', () => {
  it.each(spellings)('routes "%s" to the %s queue and nowhere else', (action, family) => {
    expect(delivered.open.get(`action:${action}`)).toEqual([family]);
  });

  it.each(unrouted)('sends %s to the unrouted rule alone, so it gets a failed result', (what) => {
    expect(delivered.open.get(what)).toEqual(['unrouted']);
  });

  it('takes nothing from a source the environment does not accept', () => {
    expect(delivered.restricted.get('accepted')).toEqual(['connections']);
    expect(delivered.restricted.get('other routed')).toBeUndefined();
    expect(delivered.restricted.get('other unrouted')).toBeUndefined();
  });

  it('keeps every pattern within what PutRule accepts', () => {
    const patterns = [...FAMILIES.map((f) => familyRequestPattern(f, [])), unroutedRequestPattern([])];
    for (const pattern of patterns)
      expect(JSON.stringify(wire(pattern)).length).toBeLessThanOrEqual(MAX_PATTERN_CHARS);
  });
});
