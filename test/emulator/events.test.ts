import { describe, expect, it } from 'vitest';
import { BUSY_CHILDREN, BUSY_SIBLINGS, MAX_CHILDREN, MAX_SIBLINGS, SEEDED, SEEDED_PTIDS } from './index.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

type Row = Record<string, unknown>;
const CONN = `${TR_PATH}/conns/${SEEDED.connectedConnectionId}`;

describe('Emulator: recorder events, counts and process trees', () => {
  const tanium = useEmulator({ tls: false });

  const rows = async (query: string, type = 'file') => {
    const response = await tanium.client.get(`${CONN}/views/${type}/events?${query}`);
    expect(response.status).toBe(200);
    return response.json as Row[];
  };

  it('answers limit + 1 rows when more remain, and exactly the rest otherwise', async () => {
    // Prepare
    const total = (await rows('limit=1000')).length;

    // Act
    const page = await rows('limit=10');
    const tail = await rows(`limit=10&offset=${total - 3}`);

    // Assess
    expect(page).toHaveLength(11);
    expect(tail).toHaveLength(3);
  });

  it('treats a limit above 1000 as 1000', async () => {
    // Prepare
    tanium.emulator.generateEvents(SEEDED.connectedConnectionId, 'dns', 1500);

    // Act
    const page = await rows('limit=5000', 'dns');

    // Assess
    expect(page).toHaveLength(1001);
  });

  it('compares 64-bit ids exactly, where doubles would make neighbours equal', async () => {
    // Prepare: two ids past 2^53 that are one apart
    const ids = (await rows('limit=1000', 'combined')).map((row) => String(row.id));
    const id = ids.find((candidate) => ids.includes(String(BigInt(candidate) + 1n)))!;
    const next = String(BigInt(id) + 1n);
    expect(Number(id)).toBe(Number(next));

    // Act
    const eq = await rows(`limit=1000&f0=id&o0=eq&v0=${id}`, 'combined');
    const ne = await rows(`limit=1000&f0=id&o0=ne&v0=${id}`, 'combined');
    const gt = await rows(`limit=1000&f0=id&o0=gt&v0=${id}`, 'combined');

    // Assess
    expect(eq.map((row) => row.id)).toEqual([id]);
    expect(ne).toHaveLength(ids.length - 1);
    expect(gt.map((row) => row.id)).toContain(next);
  });

  it('filters with eq, co and the all/any group match', async () => {
    // Act
    const eq = await rows('limit=1000&f0=operation&o0=eq&v0=Write');
    const both = await rows('limit=1000&f0=operation&o0=eq&v0=Write&f1=file&o1=co&v1=A.TMP&gm1=all&g1=0%2C1');
    const either = await rows(
      'limit=1000&f0=operation&o0=eq&v0=Write&f1=operation&o1=eq&v1=Delete&gm1=any&g1=0%2C1',
    );

    // Assess
    expect(eq.length).toBeGreaterThan(0);
    expect(eq.every((row) => row.operation === 'Write')).toBe(true);
    expect(both.map((row) => row.id)).toContain('4611686018470089201');
    expect(both.every((row) => String(row.file).toLowerCase().includes('a.tmp'))).toBe(true);
    expect(either.every((row) => row.operation === 'Write' || row.operation === 'Delete')).toBe(true);
    expect(either.length).toBeGreaterThan(eq.length);
  });

  it('compares numerically for gt/lt and answers 400 for range and unknown operators', async () => {
    // Act
    const high = await rows('limit=1000&f0=remote_address_port&o0=gt&v0=100', 'network');
    const range = await tanium.client.get(
      `${CONN}/views/network/events?f0=remote_address_port&o0=range&v0=1&gm1=all&g1=0`,
    );
    const unknown = await tanium.client.get(`${CONN}/views/network/events?f0=pid&o0=like&v0=1`);

    // Assess
    expect(high.every((row) => Number(row.remote_address_port) > 100)).toBe(true);
    expect(high.some((row) => row.remote_address_port === 443)).toBe(true);
    expect(range.status).toBe(400);
    expect(unknown.status).toBe(400);
  });

  it('sorts by several keys, descending with -, stably', async () => {
    // Act
    const listed = await rows('limit=1000');
    const sorted = await rows('limit=1000&sort=operation%2C-timestamp_raw');
    const byOperation = await rows('limit=1000&sort=operation');

    // Assess: every row, several operations and several rows of one, so that both keys decide somewhere
    const operations = [...new Set(listed.map((row) => String(row.operation)))].sort();
    expect(operations.length).toBeGreaterThan(1);
    expect(operations.length).toBeLessThan(listed.length);
    expect(sorted).toHaveLength(listed.length);
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1]!, sorted[i]!];
      expect(String(a.operation) <= String(b.operation)).toBe(true);
      if (a.operation === b.operation)
        expect(Number(a.timestamp_raw)).toBeGreaterThanOrEqual(Number(b.timestamp_raw));
    }
    // Stably: rows the one key ties keep the order they are listed in
    expect(byOperation.map((row) => row.id)).toEqual(
      operations.flatMap((operation) =>
        listed.filter((row) => row.operation === operation).map((row) => row.id),
      ),
    );
  });

  it('keeps 64-bit ids as strings and sorts them numerically', async () => {
    // Act
    const sorted = await rows('limit=5&sort=-id', 'process');

    // Assess
    expect(typeof sorted[0]?.id).toBe('string');
    expect(BigInt(String(sorted[0]!.id)) > BigInt(String(sorted[1]!.id))).toBe(true);
  });

  it('counts matching events and caps the count with has_more', async () => {
    // Prepare
    tanium.emulator.generateEvents(SEEDED.connectedConnectionId, 'registry', 10_050);

    // Act
    const network = await tanium.client.get(
      `${CONN}/views/network/eventsCount?f0=remote_address&o0=eq&v0=203.0.113.7&gm1=all&g1=0`,
    );
    const capped = await tanium.client.get(`${CONN}/views/registry/eventsCount`);
    const unknown = await tanium.client.get(`${CONN}/views/bogus/eventsCount`);

    // Assess
    expect((network.json as { count: number }).count).toBeGreaterThan(0);
    expect(network.json).toMatchObject({ has_more: false });
    expect(capped.json).toEqual({ count: 10_000, has_more: true });
    expect(unknown.status).toBe(404);
  });

  it('answers an empty 200 for eventsCount when the switch is on', async () => {
    // Prepare
    tanium.emulator.switches.eventsCountEmptyBody = true;

    // Act
    const response = await tanium.client.get(`${CONN}/views/dns/eventsCount`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.text).toBe('');
  });

  it('returns a process node with capped siblings and children, and a pruned ancestor', async () => {
    // Act
    const busy = (await tanium.client.get(`${CONN}/processtrees/${SEEDED_PTIDS.busySvchost}?limit=5000`))
      .json as Row[];
    const node = (
      await tanium.client.get(`${CONN}/processtrees/${SEEDED_PTIDS.cmd}?limit=100&context=parent%2Cnode`)
    ).json as Row[];
    const unknown = (await tanium.client.get(`${CONN}/processtrees/1?limit=10`)).json as Row[];

    // Assess
    const count = (context: string) => busy.filter((row) => row.context === context).length;
    expect(BUSY_SIBLINGS).toBeGreaterThan(MAX_SIBLINGS);
    expect(BUSY_CHILDREN).toBeGreaterThan(MAX_CHILDREN);
    expect(count('sibling')).toBe(MAX_SIBLINGS);
    expect(count('child')).toBe(MAX_CHILDREN);
    expect(count('node')).toBe(1);
    expect(node.map((row) => row.context)).toEqual(['parent', 'parent', 'parent', 'parent', 'node']);
    expect(node[3]?.process_path).toBe('<Pruned Process>');
    expect(unknown).toEqual([]);
  });

  it('answers process rows for a ptid and [] for an unknown one', async () => {
    // Act
    const rowsOf = (await tanium.client.get(`${CONN}/processevents/${SEEDED_PTIDS.whoami}/process`))
      .json as Row[];
    const none = (await tanium.client.get(`${CONN}/processevents/123/process`)).json as Row[];

    // Assess
    expect(rowsOf.map((row) => row.operation)).toEqual(['CreateProcess', 'EndProcess']);
    expect(none).toEqual([]);
  });
});
