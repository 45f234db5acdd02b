import { describe, expect, it } from 'vitest';
import type { Alert } from './state/alerts.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

type Page = { data: Alert[]; meta: { totalCount: number; filteredCount: number } };

describe('Emulator: alerts, arrival and pruning', () => {
  const tanium = useEmulator({ tls: false });

  const page = async (query = '') => {
    const response = await tanium.client.get(`${TR_PATH}/alerts${query ? `?${query}` : ''}`);
    expect(response.status).toBe(200);
    return response.json as Page;
  };

  it('lists newest first by default with totals, and seeds odd details', async () => {
    // Act
    const all = await page();

    // Assess
    const times = all.data.map((alert) => Date.parse(alert.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all.meta.totalCount).toBe(all.data.length);
    expect(all.data.find((alert) => alert.id === 4)).not.toHaveProperty('details');
    expect(() => JSON.parse(all.data.find((alert) => alert.id === 3)!.details!)).toThrow();
    expect(JSON.parse(all.data.find((alert) => alert.id === 1)!.details!).match.type).toBe('process');
  });

  it('ORs repeated state values, ANDs other keys on their string form, and logs unknown keys', async () => {
    // Act
    const states = await page('state=unresolved&state=inprogress');
    const combined = await page('state=unresolved&priority=high&intelDocId=527');
    const withUnknown = await page('bogus=1');

    // Assess
    // Both states, not merely one of them: a filter that kept only the last value would pass `every`
    expect(new Set(states.data.map((alert) => alert.state))).toEqual(new Set(['unresolved', 'inprogress']));
    expect(states.meta.filteredCount).toBe(states.data.length);
    expect(states.meta.filteredCount).toBeLessThan(states.meta.totalCount);
    expect(combined.data.map((alert) => alert.id)).toEqual([6]);
    expect(withUnknown.meta.filteredCount).toBe(withUnknown.meta.totalCount);
    expect(tanium.emulator.requests.at(-1)?.notes).toEqual(['ignored query key: bogus']);
  });

  it('counts a repeated key other than state with its last value only, and notes it', async () => {
    // Act
    const both = await page('priority=high&priority=low');
    const low = await page('priority=low');
    const high = await page('priority=high');

    // Assess
    expect(both.data.map((alert) => alert.id)).toEqual(low.data.map((alert) => alert.id));
    expect(low.data.length).toBeGreaterThan(0);
    expect(high.data.length).toBeGreaterThan(0);
    expect(tanium.emulator.requests.at(-3)?.notes).toEqual([
      'repeated query key priority: only its last value counts',
    ]);
  });

  it('caps its pages unsaid, and answers the bare array, when switched to', async () => {
    // Prepare
    const asked = await page('limit=8');
    tanium.emulator.switches.alertsMaxLimit = 5;

    // Act
    const capped = await page('limit=8');
    tanium.emulator.switches.alertsBareArray = true;
    const bare = (await page('limit=3')) as unknown as Page['data'];

    // Assess
    expect(asked.data).toHaveLength(8);
    expect(capped.data.map((alert) => alert.id)).toEqual(asked.data.slice(0, 5).map((alert) => alert.id));
    expect(capped.meta).toEqual(asked.meta);
    expect(bare.map((alert) => alert.id)).toEqual(asked.data.slice(0, 3).map((alert) => alert.id));
  });

  it('pages with limit (default 100) and offset, and sorts ascending on request', async () => {
    // Prepare
    tanium.emulator.state.alerts.addBacklog(250, 1000);

    // Act
    const first = await page();
    const second = await page('limit=100&offset=100');
    const ascending = await page('sort=createdAt&limit=3');

    // Assess
    expect(first.data).toHaveLength(100);
    expect(second.data[0]!.id).toBe(first.data[99]!.id - 1);
    expect(ascending.data.map((alert) => alert.id)).toEqual([1, 2, 3]);
  });

  it('lets steady arrivals appear as the clock reaches them', async () => {
    // Prepare
    tanium.emulator.state.alerts.addSteady(5, 60_000);
    const before = (await page()).meta.totalCount;

    // Act
    tanium.emulator.clock.advance(120_000);
    const after = await page('limit=2');

    // Assess
    expect(after.meta.totalCount).toBe(before + 2);
    expect(after.data[0]!.createdAt).toBe(new Date(tanium.emulator.clock.now()).toISOString());
  });

  it('orders a same-millisecond burst highest id first, or lowest first under the switch', async () => {
    // Prepare
    const burst = tanium.emulator.state.alerts.addBurst(3).map((alert) => alert.id);

    // Act
    const natural = (await page('limit=3')).data.map((alert) => alert.id);
    tanium.emulator.switches.alertsSameMsLowestIdFirst = true;
    const lowestFirst = (await page('limit=3')).data.map((alert) => alert.id);

    // Assess
    expect(natural).toEqual([...burst].reverse());
    expect(lowestFirst).toEqual(burst);
  });

  it('gives out-of-order alerts ids that do not follow createdAt', async () => {
    // Prepare
    tanium.emulator.state.alerts.addOutOfOrder(3, 1000);

    // Act
    const ids = (await page('limit=3')).data.map((alert) => alert.id);

    // Assess
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('prunes alerts older than a retention window, now or on the five-minute cadence', async () => {
    // Prepare
    tanium.emulator.state.alerts.addBacklog(100, 60_000);
    const before = (await page()).meta.totalCount;

    // Act
    const pruned = tanium.emulator.pruneAlerts(30 * 60_000);
    const afterPrune = (await page()).meta.totalCount;
    tanium.emulator.state.alerts.retentionMs = 10 * 60_000;
    tanium.emulator.clock.advance(5 * 60_000);
    const afterCadence = (await page()).meta.totalCount;

    // Assess
    expect(before).toBeGreaterThan(100);
    expect(pruned).toBe(before - 31);
    expect(afterPrune).toBe(31);
    expect(afterCadence).toBe(6);
  });

  it('serves a page from a 100,000-alert backlog', async () => {
    // Prepare
    tanium.emulator.state.alerts.addBacklog(100_000, 100);

    // Act
    const first = await page('limit=500');
    const filtered = await page('limit=10&priority=high&offset=1000');

    // Assess
    expect(first.meta.totalCount).toBe(100_008);
    expect(first.data).toHaveLength(500);
    expect(filtered.data.every((alert) => alert.priority === 'high')).toBe(true);
    expect(filtered.meta.filteredCount).toBeGreaterThan(30_000);
  });
});
