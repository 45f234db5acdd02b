import { describe, expect, it } from 'vitest';
import { SEEDED } from './index.ts';
import { DEC_PATH, TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

type Connection = { id: string; status: string; connectedAt: number | null };

describe('Emulator: endpoints and connections', () => {
  const tanium = useEmulator({ tls: false });

  const statusOf = async (id: string) => {
    const list = (await tanium.client.get(`${TR_PATH}/conns`)).json as Connection[];
    return list.find((connection) => connection.id === id)?.status;
  };
  const connect = async (target: Record<string, unknown>) =>
    (await tanium.client.call('POST', `${TR_PATH}/conns/connect`, { json: { target } })).json as string;

  it('looks endpoints up exactly, hostname case-insensitively, in registration order', async () => {
    // Act
    const shared = await tanium.client.get(`${DEC_PATH}/endpoints?hostname=DUP-HOST`);
    const byIp = await tanium.client.get(`${DEC_PATH}/endpoints?ip=10.0.0.9`);
    const partial = await tanium.client.get(`${DEC_PATH}/endpoints?hostname=dup`);

    // Assess
    const rows = (shared.json as { data: { clientId: string }[] }).data;
    expect(rows.map((row) => row.clientId)).toEqual(['1111111111', '1111111112']);
    expect((byIp.json as { data: { hostname: string }[] }).data[0]?.hostname).toBe('web-02');
    expect(partial.json).toEqual({ data: [] });
  });

  it('moves a new connection from waiting to connected after the connect delay', async () => {
    // Prepare
    const id = await connect({
      hostname: 'test-client-1',
      ip: '10.0.0.5',
      clientId: '2029399999',
      platform: 'Windows',
    });

    // Act
    const before = await statusOf(id);
    tanium.emulator.clock.advance(1999);
    const almost = await statusOf(id);
    tanium.emulator.clock.advance(1);
    const after = await statusOf(id);

    // Assess
    expect(id).toMatch(/^remote:test-client-1:2029399999:\d+$/);
    expect([before, almost, after]).toEqual(['waiting', 'waiting', 'connected']);
  });

  it('times out an unknown target after the connect timeout', async () => {
    // Prepare
    const id = await connect({ hostname: 'ghost', ip: null, clientId: '42', platform: null });

    // Act
    tanium.emulator.clock.advance(29_999);
    const waiting = await statusOf(id);
    tanium.emulator.clock.advance(1);
    const timedOut = await statusOf(id);

    // Assess
    expect(waiting).toBe('waiting');
    expect(timedOut).toBe('timeout');
  });

  it('times out a connected connection after it idles, and use keeps it alive', async () => {
    // Prepare
    const path = `${TR_PATH}/conns/${SEEDED.connectedConnectionId}/views/dns/eventsCount`;

    // Act
    tanium.emulator.clock.advance(500_000);
    const used = await tanium.client.get(path);
    tanium.emulator.clock.advance(500_000);
    const alive = await statusOf(SEEDED.connectedConnectionId);
    tanium.emulator.clock.advance(100_000);
    const idle = await statusOf(SEEDED.connectedConnectionId);

    // Assess
    expect(used.status).toBe(200);
    expect(alive).toBe('connected');
    expect(idle).toBe('timeout');
  });

  it('closes to disconnected, deletes to gone, and answers 404 for unknown ids', async () => {
    // Prepare
    const id = SEEDED.connectedConnectionId;

    // Act
    const closed = await tanium.client.call('DELETE', `${TR_PATH}/conns/close/${id}`);
    const status = await statusOf(id);
    const inactive = await tanium.client.get(`${TR_PATH}/conns/${id}/views/file/events?limit=1`);
    const deleted = await tanium.client.call('DELETE', `${TR_PATH}/conns/delete/${id}`);
    const gone = await tanium.client.get(`${TR_PATH}/conns/${id}/views/file/events?limit=1`);
    const deleteAgain = await tanium.client.call('DELETE', `${TR_PATH}/conns/delete/${id}`);

    // Assess
    expect(closed.status).toBe(200);
    expect(status).toBe('disconnected');
    expect(inactive.status).toBe(400);
    expect(inactive.json).toEqual({ errors: [{ message: `Connection ${id} is not active` }] });
    expect(deleted.status).toBe(204);
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ text: `Connection not found: ${id}` });
    expect(deleteAgain.status).toBe(404);
  });

  it('accepts connection ids with %3A-encoded colons', async () => {
    // Act
    const response = await tanium.client.get(
      `${TR_PATH}/conns/${encodeURIComponent(SEEDED.connectedConnectionId)}/views/dns/events?limit=1`,
    );

    // Assess
    expect(response.status).toBe(200);
  });

  it('answers the new id as text/plain when the switch is on', async () => {
    // Prepare
    tanium.emulator.switches.connectTextPlain = true;

    // Act
    const response = await tanium.client.call('POST', `${TR_PATH}/conns/connect`, {
      json: { target: { hostname: 'web-02', clientId: '3380012345' } },
    });

    // Assess
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(/^remote:web-02:3380012345:\d+$/);
  });
});
