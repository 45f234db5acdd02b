import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

const STATUS = `${TR_PATH}/status`;

describe('Emulator: faults, request log and control surface', () => {
  const tanium = useEmulator();

  it('answers a chosen status and body shape for the next N matching requests', async () => {
    // Prepare
    tanium.emulator.faults.add({
      path: STATUS,
      times: 2,
      kind: 'status',
      status: 500,
      shape: 'errors',
      message: 'boom',
    });

    // Act
    const first = await tanium.client.get(STATUS);
    const second = await tanium.client.get(STATUS);
    const third = await tanium.client.get(STATUS);

    // Assess
    expect(first.status).toBe(500);
    expect(first.json).toEqual({ errors: [{ message: 'boom' }] });
    expect(second.status).toBe(500);
    expect(third.status).toBe(200);
    expect(tanium.emulator.requests.map((entry) => entry.fault)).toEqual(['status', 'status', undefined]);
  });

  it('sends 429 with Retry-After seconds and 502 as an HTML page', async () => {
    // Prepare
    tanium.emulator.faults.add({
      method: 'GET',
      path: `${TR_PATH}/conns*`,
      times: 1,
      kind: 'status',
      status: 429,
      retryAfter: 3,
    });
    tanium.emulator.faults.add({ times: 1, kind: 'status', status: 502 });

    // Act
    const limited = await tanium.client.get(`${TR_PATH}/conns`);
    const gateway = await tanium.client.get(STATUS);

    // Assess
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect(gateway.status).toBe(502);
    expect(gateway.text).toContain('<title>502 Bad Gateway</title>');
  });

  it('resets the connection before headers and mid-body', async () => {
    // Prepare
    tanium.emulator.faults.add({ times: 1, kind: 'resetBeforeHeaders' });
    tanium.emulator.faults.add({ times: 1, kind: 'resetMidBody' });

    // Act
    const beforeHeaders = tanium.client.get(STATUS);
    // A reset, not a clean close: the client must see the connection torn down
    await expect(beforeHeaders).rejects.toMatchObject({ code: 'ECONNRESET' });
    const midBody = tanium.client.get(`${TR_PATH}/conns`);

    // Assess
    await expect(midBody).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(tanium.emulator.requests[0]?.status).toBe(0);
    expect(tanium.emulator.requests[1]?.status).toBe(200);
  });

  it.for([
    { chunked: false, error: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' },
    { chunked: true, error: 'Invalid EOF state' },
  ])('ends a Connection: close answer after half its body (chunked $chunked)', async ({ chunked, error }) => {
    // Prepare
    tanium.emulator.faults.add({ times: 1, kind: 'closeMidBody', chunked });

    // Act
    const cut = tanium.client.get(`${TR_PATH}/conns`);

    // Assess: undici reads the end of a Connection: close answer as its end, which the body missed
    const failure = (await cut.catch((caught: unknown) => caught)) as Error & { code?: string };
    expect(`${failure.code} ${failure.message}`).toContain(error);
    expect(tanium.emulator.requests[0]).toMatchObject({ status: 200, fault: 'closeMidBody' });
    expect((await tanium.client.get(`${TR_PATH}/conns`)).status).toBe(200);
  });

  it('answers malformed JSON, HTML with 200 and a redirect to another host', async () => {
    // Prepare
    tanium.emulator.faults.add({ times: 1, kind: 'malformedJson' });
    tanium.emulator.faults.add({ times: 1, kind: 'html200' });
    tanium.emulator.faults.add({ times: 1, kind: 'redirect' });

    // Act
    const malformed = await tanium.client.get(STATUS);
    const html = await tanium.client.get(STATUS);
    const redirect = await tanium.client.get(STATUS);

    // Assess
    expect(malformed.headers['content-type']).toMatch(/json/);
    expect(() => JSON.parse(malformed.text)).toThrow();
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe(`https://elsewhere.invalid${STATUS}`);
  });

  it("compresses the route's answer with gzip when asked, JSON and streamed downloads alike", async () => {
    // Prepare
    const plainList = await tanium.client.get(`${TR_PATH}/conns`);
    tanium.emulator.faults.add({ times: 2, kind: 'compressed' });

    // Act
    const list = await tanium.client.get(`${TR_PATH}/conns`);
    const [file] = tanium.emulator.state.files;
    const download = await tanium.client.get(`${TR_PATH}/filedownload/data/${file!.uuid}`);

    // Assess
    expect(list.status).toBe(200);
    expect(list.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(list.body).toString('utf8')).toBe(plainList.text);
    expect(download.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(download.body).subarray(0, 4)).toEqual(Buffer.from('PK\x03\x04', 'latin1'));
  });

  it('processes the request before failing when asked, so the state changes', async () => {
    // Prepare
    const body = { intelDocId: 11, computerGroupId: 34 };
    tanium.emulator.faults.add({ times: 1, kind: 'status', status: 504, processRequest: true });

    // Act
    const response = await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, { json: body });

    // Assess
    expect(response.status).toBe(504);
    expect(tanium.emulator.state.scans.scans).toHaveLength(1);
  });

  it('delays before headers and resumes a stalled body when given a pause', async () => {
    // Prepare
    tanium.emulator.faults.add({ times: 1, kind: 'delay', ms: 20 });
    tanium.emulator.faults.add({ times: 1, kind: 'stallMidBody', ms: 20 });

    // Act
    const delayed = await tanium.client.get(`${TR_PATH}/conns`);
    const resumed = await tanium.client.get(`${TR_PATH}/conns`);

    // Assess
    expect(delayed.status).toBe(200);
    expect(Array.isArray(delayed.json)).toBe(true);
    expect(resumed.json).toEqual(delayed.json);
    expect(tanium.emulator.requests.map((entry) => entry.fault)).toEqual(['delay', 'stallMidBody']);
  });

  it('stalls a download mid-body until the client gives up', async () => {
    // Prepare
    tanium.emulator.switches.downloadStallMidBody = true;

    // Act
    const response = await request(
      `${tanium.emulator.url}${TR_PATH}/filedownload/data/79478f3e-061b-4b59-a99a-349415df99a0`,
      {
        headers: { session: tanium.emulator.credentials.apiToken },
        dispatcher: tanium.client.agent,
        bodyTimeout: 200,
      },
    );
    const body = response.body.arrayBuffer();

    // Assess
    expect(response.statusCode).toBe(200);
    await expect(body).rejects.toThrow(/timeout/i);
  });

  it('logs requests with raw query, body digest and counts connections', async () => {
    // Prepare
    const connectionsBefore = tanium.emulator.connectionCount;

    // Act
    await tanium.client.get(`${TR_PATH}/alerts?limit=1&state=a%2Cb&x=1+2`);
    await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, {
      json: { intelDocId: 11, computerGroupId: 34 },
    });

    // Assess
    const [get, post] = tanium.emulator.requests;
    expect(get?.rawQuery).toBe('limit=1&state=a%2Cb&x=1+2');
    expect(post?.json).toEqual({ intelDocId: 11, computerGroupId: 34 });
    expect(post?.bodyLength).toBeGreaterThan(0);
    expect(post?.bodyDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(tanium.emulator.requestCount({ method: 'POST' })).toBe(1);
    expect(tanium.emulator.requestCount({ path: `${TR_PATH}/*` })).toBe(2);
    expect(tanium.emulator.connectionCount - connectionsBefore).toBeLessThanOrEqual(1);
    expect(tanium.emulator.connectionCount).toBeGreaterThanOrEqual(1);
  });

  it('is driven over HTTP under /__emulator without a session', async () => {
    // Act
    const advanced = await tanium.client.call('POST', '/__emulator/clock', {
      session: null,
      json: { advance: 5000 },
    });
    const switched = await tanium.client.call('POST', '/__emulator/switches', {
      session: null,
      json: { loginRoute404: true },
    });
    const badSwitch = await tanium.client.call('POST', '/__emulator/switches', {
      session: null,
      json: { nope: true },
    });
    const fault = await tanium.client.call('POST', '/__emulator/faults', {
      session: null,
      json: { kind: 'status', status: 503, pathRegex: 'status$' },
    });
    const faulted = await tanium.client.get(STATUS);
    const count = await tanium.client.call(
      'GET',
      `/__emulator/requests/count?path=${encodeURIComponent(STATUS)}`,
      {
        session: null,
      },
    );
    const alerts = await tanium.client.call('POST', '/__emulator/alerts', {
      session: null,
      json: { burst: { count: 4 } },
    });
    await tanium.client.call('POST', '/__emulator/credentials/expire-token', { session: null, json: {} });
    const expired = await tanium.client.get(`${TR_PATH}/conns`);
    await tanium.client.call('POST', '/__emulator/reset', { session: null, json: {} });
    const afterReset = await tanium.client.get(STATUS);

    // Assess
    expect((advanced.json as { now: number }).now).toBe(Date.parse('2024-01-15T10:00:05.000Z'));
    expect((switched.json as { loginRoute404: boolean }).loginRoute404).toBe(true);
    expect(badSwitch.status).toBe(400);
    expect((fault.json as { id: number }).id).toBeGreaterThan(0);
    expect(faulted.status).toBe(503);
    expect(count.json).toMatchObject({ count: 1 });
    expect(alerts.json).toMatchObject({ added: 4 });
    expect(expired.status).toBe(401);
    expect(afterReset.status).toBe(200);
    expect(tanium.emulator.switches.loginRoute404).toBe(false);
  });
});
