import dns, { type LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseCredentials } from '../../../shared/config/credentials.ts';
import {
  agentFor,
  closeAgents,
  IDLE_REUSE_LIMIT_MS,
  MAX_TLS_SETTINGS,
} from '../../../shared/tanium/agent.ts';
import { TaniumClient } from '../../../shared/tanium/client.ts';
import { TaniumClientCache } from '../../../shared/tanium/client-cache.ts';
import { DeadlineError } from '../../../shared/tanium/errors.ts';
import { CARRIED_OUT_CAVEAT } from '../../../shared/tanium/responses.ts';
import { MIN_ATTEMPT_MS } from '../../../shared/tanium/retry-policy.ts';
import { MAX_URL_CHARS, query, segment, TR } from '../../../shared/tanium/routes.ts';
import { clearSessionCache } from '../../../shared/tanium/session-cache.ts';
import { startAnsweringServer } from '../../helpers/answering-server.ts';
import { taniumFailure } from '../../helpers/failure.ts';
import { freePort } from '../../helpers/moto.ts';
import { startSilentEndpoint } from '../../helpers/silent-endpoint.ts';
import {
  capturingLogger,
  clientFor,
  credentialsFor,
  type Emulator,
  startTestEmulator,
} from '../../helpers/tanium.ts';

const CONNS = `${TR}/conns`;
/**
 * A deadline that leaves an attempt just enough time to start (none starts with less than
 * MIN_ATTEMPT_MS left): a test that waits for the deadline to cut a request waits no longer than that.
 */
const JUST_OVER_MIN_ATTEMPT_MS = MIN_ATTEMPT_MS + 200;

/**
 * A port on 127.0.0.1 whose SYNs go unanswered: its listener's thread is blocked, so it never accepts,
 * and its accept queue is filled, so the kernel drops further connects instead of completing them.
 */
async function unansweredPort(): Promise<{ port: number; close(): Promise<void> }> {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`,
    { eval: true },
  );
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: Socket[] = [];
  for (;;) {
    const socket = connect(port, '127.0.0.1').on('error', () => undefined);
    fillers.push(socket);
    let connected = false;
    socket.once('connect', () => (connected = true));
    // A loopback connect the kernel accepts completes at once; one turn of the event loop after the
    // timer (its poll phase) hears of it even when the loop was held up past the timer.
    await new Promise((resolve) => setTimeout(resolve, 250));
    await new Promise((resolve) => setImmediate(resolve));
    if (!connected) break;
  }
  return {
    port,
    async close() {
      for (const socket of fillers) socket.destroy();
      await worker.terminate();
    },
  };
}

/** A GET or POST of CONNS given `ms` until its deadline; the failure it ends in. */
function requestWithin(client: TaniumClient, method: 'GET' | 'POST', ms: number) {
  return taniumFailure(
    client.request({
      method,
      path: CONNS,
      ...(method === 'POST' ? { body: '{}' } : {}),
      deadline: Date.now() + ms,
    }),
  );
}

/**
 * The deadline stopped `method` before anything reached Tanium. A POST that never left must not read as
 * possibly processed: a later delivery may run it again.
 */
function expectNothingSent(error: Error, method: string): void {
  expect(error.message).toBe(
    `Error connecting to server: the invocation ran out of time during ${method} ${CONNS} (nothing was sent)`,
  );
  expect(error).toMatchObject({ kind: 'transient', retryable: true });
  expect(error).toBeInstanceOf(DeadlineError);
}

describe('Tanium client: transport, retries and responses', () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterAll(async () => {
    await closeAgents();
    await emulator.close();
  });
  beforeEach(() => emulator.reset());

  describe('TLS', () => {
    it('verifies the certificate against the configured CA bundle', async () => {
      const client = clientFor(emulator);
      await expect(client.request({ method: 'GET', path: CONNS })).resolves.toMatchObject({ status: 200 });
    });

    it('refuses a certificate it cannot verify, without retrying', async () => {
      // Prepare
      const client = clientFor(emulator, { secret: { ca_bundle: null } });

      // Act
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

      // Assess
      expect(error.kind).toBe('transport');
      expect(error.retryable).toBe(false);
      expect(error.message).toMatch(
        /^Error connecting to server: TLS certificate verification failed \([A-Z_]+\)\. Check ca_bundle or the server certificate\.$/,
      );
      expect(emulator.requests).toHaveLength(0);
    });

    it('keeps the agents of at most MAX_TLS_SETTINGS CA bundles, and sets a forgotten one up again', async () => {
      // Prepare: the secret's ca_bundle rotated once more than is kept (the same CA, each with its own
      // comment line, which PEM ignores)
      const bundle = (rotation: number) => `${emulator.ca}\n# rotation ${rotation}\n`;
      const clients = Array.from({ length: MAX_TLS_SETTINGS + 1 }, (_, rotation) =>
        clientFor(emulator, { secret: { ca_bundle: bundle(rotation) } }),
      );
      await clients[0]?.request({ method: 'GET', path: CONNS });
      const oldest = agentFor({ verifyServerCert: true, caBundle: bundle(0) });

      // Act
      for (const client of clients.slice(1)) await client.request({ method: 'GET', path: CONNS });
      const newest = agentFor({ verifyServerCert: true, caBundle: bundle(MAX_TLS_SETTINGS) });
      const again = await clients[0]?.request({ method: 'GET', path: CONNS });

      // Assess: the oldest was closed, not the others; its client carries on, on a new agent
      expect(oldest.closed).toBe(true);
      expect(newest.closed).toBe(false);
      expect(again?.status).toBe(200);
      expect(agentFor({ verifyServerCert: true, caBundle: bundle(0) }).closed).toBe(false);
    });

    it('trusts a ca_bundle added to the secret from the next request, in the same container', async () => {
      // Prepare: the secret first lacks the CA, as when an operator has not added it yet
      clearSessionCache();
      let secret = credentialsFor(emulator, { secret: { ca_bundle: null } });
      const cache = new TaniumClientCache({ credentials: async () => secret, logger: capturingLogger() });
      const refused = await taniumFailure((await cache.get()).request({ method: 'GET', path: CONNS }));
      expect(refused.message).toContain('Check ca_bundle');

      // Act: the operator follows the message and puts the CA in the secret
      secret = credentialsFor(emulator);
      const response = await (await cache.get()).request({ method: 'GET', path: CONNS });

      // Assess
      expect(response.status).toBe(200);
      expect(emulator.requestCount({ path: CONNS })).toBe(1);
    });

    it('warns once that verification is off, even when an earlier client of the origin verified', async () => {
      // Prepare: an origin no other test uses (the warnings are once per container)
      const base = `https://127.0.0.1:${await freePort()}/`;
      const clientWith = (verify: boolean) => {
        const logger = capturingLogger();
        new TaniumClient(
          parseCredentials({ base_url: base, api_token: 'token-abcdef', verify_server_cert: verify }, 'test'),
          { logger },
        );
        return logger.lines.map((line) => (JSON.parse(line) as { message: string }).message);
      };

      // Act: verification on, then a rotated secret turns it off, then another client with it off
      const verified = clientWith(true);
      const turnedOff = clientWith(false);
      const again = clientWith(false);

      // Assess
      expect(verified).toEqual([]);
      expect(turnedOff).toEqual([
        'TLS certificate verification is disabled for Tanium (verify_server_cert is false)',
      ]);
      expect(again).toEqual([]);
    });

    it('warns once per origin that credentials travel unencrypted over http, and that verification is off', async () => {
      // Prepare: origins no other test uses (the warnings are once per container)
      const warningsFor = (base: string, verify = true) => {
        const logger = capturingLogger();
        new TaniumClient(
          parseCredentials({ base_url: base, api_token: 'token-abcdef', verify_server_cert: verify }, 'test'),
          { logger },
        );
        return logger.lines.map((line) => (JSON.parse(line) as { message: string }).message);
      };
      const [first, second, third, fourth] = [
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      const plain = 'The Tanium base URL uses plain http://; credentials travel unencrypted';
      const off = 'TLS certificate verification is disabled for Tanium (verify_server_cert is false)';

      // Act
      const warnings = [
        warningsFor(`http://127.0.0.1:${first}/`),
        warningsFor(`http://127.0.0.1:${first}/`),
        warningsFor(`http://127.0.0.1:${second}/`),
        warningsFor(`https://127.0.0.1:${third}/`, false),
        warningsFor(`https://127.0.0.1:${fourth}/`, false),
      ];

      // Assess
      expect(warnings).toEqual([[plain], [], [plain], [off], [off]]);
    });

    it('accepts any certificate when verify_server_cert is false', async () => {
      const client = clientFor(emulator, { secret: { ca_bundle: null, verify_server_cert: false } });
      await expect(client.request({ method: 'GET', path: CONNS })).resolves.toMatchObject({ status: 200 });
    });
  });

  describe('retries', () => {
    it('retries a GET on 503 and succeeds on the third attempt', async () => {
      // Prepare
      emulator.faults.add({ method: 'GET', path: CONNS, times: 2, kind: 'status', status: 503 });
      const client = clientFor(emulator);

      // Act
      const response = await client.request({ method: 'GET', path: CONNS });

      // Assess
      expect(response.status).toBe(200);
      expect(emulator.requestCount({ path: CONNS })).toBe(3);
    });

    it('gives up after three attempts with a retryable transient error', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'status', status: 502 });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error.kind).toBe('transient');
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(
        /^Error from server\. Status Code: 502 Data from server: 502 Bad Gateway/,
      );
      expect(emulator.requestCount({ path: CONNS })).toBe(3);
    });

    it.each([
      [1, [1_000]],
      ['1.5', [1_500]],
      ['0.5', [500]],
      ['not a date', [0]],
    ])(
      'waits for a Retry-After of %j on a 429 as seconds, or the backoff (0 with this client) when unreadable',
      async (retryAfter, expected) => {
        // Prepare: with this client's random the backoff is 0, so only Retry-After makes a wait
        emulator.faults.add({
          method: 'GET',
          path: CONNS,
          times: 1,
          kind: 'status',
          status: 429,
          retryAfter,
        });
        const waits: number[] = [];
        const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms) });

        // Act
        const response = await client.request({ method: 'GET', path: CONNS });

        // Assess: one wait, then the answer
        expect(waits).toEqual(expected);
        expect(response.status).toBe(200);
        expect(emulator.requestCount({ path: CONNS })).toBe(2);
      },
    );

    it('does not wait past the deadline for a Retry-After', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'status', status: 429, retryAfter: 30 });
      const client = clientFor(emulator);
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, deadline: Date.now() + 5000 }),
      );
      expect(error.kind).toBe('transient');
      // Kept for the redelivery, which must not come sooner than Tanium asked.
      expect(error.retryAfterMs).toBe(30_000);
      expect(emulator.requestCount({ path: CONNS })).toBe(1);
    });

    it("reports a POST's 429 as an unknown outcome, never retried", async () => {
      emulator.faults.add({
        method: 'POST',
        path: `${TR}/conns/connect`,
        kind: 'status',
        status: 429,
        retryAfter: 30,
      });
      const client = clientFor(emulator);
      const error = await taniumFailure(
        client.request({
          method: 'POST',
          path: `${TR}/conns/connect`,
          json: {},
          deadline: Date.now() + 5000,
        }),
      );
      expect(error).toMatchObject({ kind: 'unknown_outcome', retryable: false });
      expect(emulator.requestCount({ path: `${TR}/conns/connect` })).toBe(1);
    });

    it('never retries a 500', async () => {
      emulator.faults.add({
        method: 'GET',
        path: CONNS,
        kind: 'status',
        status: 500,
        shape: 'message',
        message: 'boom',
      });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error).toMatchObject({ kind: 'tanium', retryable: false, status: 500 });
      expect(error.message).toBe('Error from server. Status Code: 500 Data from server: boom');
      expect(emulator.requestCount({ path: CONNS })).toBe(1);
    });

    it('never retries a POST that reached the server, and says its outcome is unknown', async () => {
      // Prepare
      const path = `${TR}/on-demand-scans`;
      emulator.faults.add({ method: 'POST', path, kind: 'status', status: 503, processRequest: true });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(
        client.request({ method: 'POST', path, json: { intelDocId: 11, computerGroupId: 34 } }),
      );

      // Assess
      expect(error.kind).toBe('unknown_outcome');
      expect(error.retryable).toBe(false);
      // The contract's suffix as is, after the server's text (tanium-api.md 1.7).
      expect(error.message).toBe(
        'Error from server. Status Code: 503 Data from server: 503 Service Unavailable 503 Service Unavailable nginx The request may have been processed by Tanium; check before running it again.',
      );
      expect(emulator.requestCount({ path })).toBe(1);
      expect(emulator.state.scans.scans).toHaveLength(1);
    });

    it.each([
      ['whose connection was reset after sending', 'resetBeforeHeaders'],
      // undici reads the end of a Connection: close answer as its end, and the body as short
      ['whose Connection: close answer ended mid-body', 'closeMidBody'],
    ] as const)('never retries a POST %s, and says its outcome is unknown', async (_, kind) => {
      // Prepare
      const path = `${TR}/on-demand-scans`;
      emulator.faults.add({ method: 'POST', path, kind });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(
        client.request({ method: 'POST', path, json: { intelDocId: 11, computerGroupId: 34 } }),
      );

      // Assess
      expect(error).toMatchObject({ kind: 'unknown_outcome', retryable: false });
      expect(error.message).toBe(
        `Error connecting to server: connection reset by 127.0.0.1 (POST ${path}) The request may have been processed by Tanium; check before running it again.`,
      );
      expect(emulator.requestCount({ path })).toBe(1);
    });

    it.each([
      ['answered at once', [], false],
      ['after a 503, which Tanium answers without acting', [503], false],
      ['after a 502, whose answer may have been lost', [502], true],
      ['after a reset once sent, whose answer was lost', ['reset'], true],
    ] as const)(
      "warns that a DELETE's 404 may follow its own earlier attempt only when one lost its answer: %s",
      async (_case, before, caveat) => {
        // Prepare: no connection has this id, so the last attempt answers 404
        const path = `${TR}/conns/remote/remote:gone:1:1`;
        for (const fault of before) {
          emulator.faults.add(
            fault === 'reset'
              ? { method: 'DELETE', path, times: 1, kind: 'resetBeforeHeaders' }
              : { method: 'DELETE', path, times: 1, kind: 'status', status: fault },
          );
        }

        // Act
        const error = await taniumFailure(clientFor(emulator).request({ method: 'DELETE', path }));

        // Assess
        expect(error.kind).toBe('not_found');
        expect(error.message.includes(CARRIED_OUT_CAVEAT)).toBe(caveat);
        expect(emulator.requestCount({ path })).toBe(before.length + 1);
      },
    );

    it("reports a transport failure rather than retrying when the backoff would leave less than an attempt's time", async () => {
      // Prepare: the backoff after the first attempt is 250 ms, and the deadline leaves less than that
      // beyond MIN_ATTEMPT_MS
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'resetBeforeHeaders' });
      const waits: number[] = [];
      const client = new TaniumClient(credentialsFor(emulator), {
        random: () => 1,
        sleep: async (ms) => waits.push(ms),
      });

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, deadline: Date.now() + MIN_ATTEMPT_MS + 200 }),
      );

      // Assess: the reset itself, not a deadline reached after a wasted wait
      expect(error).toMatchObject({ kind: 'transient', retryable: true });
      expect(error.message).toBe(`Error connecting to server: connection reset by 127.0.0.1 (GET ${CONNS})`);
      expect(waits).toEqual([]);
      expect(emulator.requestCount({ path: CONNS })).toBe(1);
    });

    it("returns a 429 rather than waiting when its Retry-After would leave less than an attempt's time", async () => {
      // Prepare
      emulator.faults.add({
        method: 'GET',
        path: CONNS,
        times: 1,
        kind: 'status',
        status: 429,
        retryAfter: 1,
      });
      const waits: number[] = [];
      const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms) });

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, deadline: Date.now() + MIN_ATTEMPT_MS + 500 }),
      );

      // Assess
      expect(error).toMatchObject({ kind: 'transient', retryAfterMs: 1_000 });
      expect(waits).toEqual([]);
      expect(emulator.requestCount({ path: CONNS })).toBe(1);
    });

    it('starts an attempt, and retries one that never reached Tanium, with exactly MIN_ATTEMPT_MS left', async () => {
      // Prepare: time stands still, so exactly MIN_ATTEMPT_MS is left at each check
      const port = await freePort();
      const waits: number[] = [];
      const client = clientFor(emulator, {
        secret: { base_url: `https://127.0.0.1:${port}` },
        sleep: async (ms) => waits.push(ms),
      });
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now);

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, deadline: now + MIN_ATTEMPT_MS }),
      );

      // Assess: every attempt ran and met the closed port, rather than being refused for want of time
      expect(error.message).toBe(`Error connecting to server: connection refused by 127.0.0.1:${port}`);
      expect(waits).toEqual([0, 0]);
    });

    it('retries a 503 when the wait still leaves exactly MIN_ATTEMPT_MS', async () => {
      // Prepare
      emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'status', status: 503 });
      const client = clientFor(emulator, { sleep: async () => undefined });
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now);

      // Act
      const response = await client.request({ method: 'GET', path: CONNS, deadline: now + MIN_ATTEMPT_MS });

      // Assess
      expect(response.status).toBe(200);
      expect(emulator.requestCount({ path: CONNS })).toBe(2);
    });

    it('retries a GET whose connection is reset mid-body', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'resetMidBody' });
      const client = clientFor(emulator);
      const response = await client.request({ method: 'GET', path: CONNS });
      expect(Array.isArray(response.payload)).toBe(true);
      expect(emulator.requestCount({ path: CONNS })).toBe(2);
    });

    it.for([false, true])(
      'retries a GET whose Connection: close answer ends mid-body (chunked %s), and reports it as a reset if it persists',
      async (chunked) => {
        // Prepare: undici reads the connection's end as the answer's end, not as a socket error
        emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'closeMidBody', chunked });
        const client = clientFor(emulator);

        // Act
        const response = await client.request({ method: 'GET', path: CONNS });
        emulator.faults.add({ method: 'GET', path: CONNS, kind: 'closeMidBody', chunked });
        const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

        // Assess
        expect(Array.isArray(response.payload)).toBe(true);
        expect(emulator.requestCount({ path: CONNS })).toBeGreaterThan(3);
        expect(error).toMatchObject({ kind: 'transient', retryable: true });
        expect(error.message).toBe(
          `Error connecting to server: connection reset by 127.0.0.1 (GET ${CONNS})`,
        );
      },
    );

    it("adds no carried-out caveat to a read's 404 after a lost answer: a GET changes nothing", async () => {
      // Prepare: a gateway error, then the retry's 404 (no file has that id)
      const path = `${TR}/filedownload/${segment('file_id', 'gone')}`;
      emulator.faults.add({ method: 'GET', path, times: 1, kind: 'status', status: 502 });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(client.request({ method: 'GET', path }));

      // Assess
      expect(error.kind).toBe('not_found');
      expect(error.message).not.toContain(CARRIED_OUT_CAVEAT);
      expect(emulator.requestCount({ path })).toBe(2);
    });

    it('reports a reset that persists as a retryable transient error', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'resetBeforeHeaders' });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error).toMatchObject({ kind: 'transient', retryable: true });
      expect(error.message).toBe(`Error connecting to server: connection reset by 127.0.0.1 (GET ${CONNS})`);
    });

    it('retries a POST when the connection is refused (it never reached Tanium)', async () => {
      // Prepare
      const port = await freePort();
      const logger = capturingLogger();
      const client = clientFor(emulator, { secret: { base_url: `https://127.0.0.1:${port}` }, logger });

      // Act
      const error = await taniumFailure(client.request({ method: 'POST', path: `${TR}/intels`, body: 'x' }));

      // Assess
      expect(error).toMatchObject({ kind: 'transport', retryable: true });
      expect(error.message).toBe(`Error connecting to server: connection refused by 127.0.0.1:${port}`);
      // Nothing can be counted on a closed port, so the retries are read from the client's own log.
      const retries = logger.lines
        .map((line) => JSON.parse(line) as { message: string; failure?: string })
        .filter((line) => line.message === 'Retrying Tanium request after a transport failure');
      expect(retries.map((line) => line.failure)).toEqual(['refused', 'refused']);
    });
  });

  describe("a pause Tanium asks for (a 429 or 503 with Retry-After) holds the client's other requests", () => {
    /** The waits a request made, and its answer or error. */
    async function waitsOf(waits: number[], request: () => Promise<unknown>) {
      const before = waits.length;
      const outcome = await request().then(
        (response) => (response as { status: number }).status,
        (error: unknown) => error,
      );
      return { waits: waits.slice(before), outcome };
    }

    /** Tanium refuses the next such request once, with `status`, asking for `retryAfter` seconds. */
    function refuseOnce(
      retryAfter: number | undefined,
      {
        method = 'GET',
        path = CONNS,
        status = 429,
      }: { method?: 'GET' | 'POST'; path?: string; status?: number } = {},
    ) {
      emulator.faults.add({
        method,
        path,
        times: 1,
        kind: 'status',
        status,
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
    }

    it.each([
      { status: 429, retryAfter: 2, holds: true },
      { status: 503, retryAfter: 2, holds: true },
      // A gateway's Retry-After speaks for the one request the gateway failed
      { status: 502, retryAfter: 2, holds: false },
      { status: 504, retryAfter: 2, holds: false },
      { status: 429, retryAfter: undefined, holds: false },
      { status: 503, retryAfter: undefined, holds: false },
    ])(
      'a $status with Retry-After $retryAfter holds the next request: $holds',
      async ({ status, retryAfter, holds }) => {
        // Prepare: the first GET is refused once; waits are recorded, not spent (time stands still)
        refuseOnce(retryAfter, { status });
        const waits: number[] = [];
        const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms) });
        const first = await waitsOf(waits, () => client.request({ method: 'GET', path: CONNS }));

        // Act: another request, to another route
        const next = await waitsOf(waits, () => client.request({ method: 'GET', path: `${TR}/alerts` }));

        // Assess: the first waited its own retry only (Retry-After, or a backoff of 0 with this client's
        // random); the next one waits what is left of the pause, or not at all
        expect(first).toEqual({ waits: [(retryAfter ?? 0) * 1000], outcome: 200 });
        expect(next.outcome).toBe(200);
        if (holds) {
          expect(next.waits).toHaveLength(1);
          expect(next.waits[0]).toBeGreaterThan(1000);
          expect(next.waits[0]).toBeLessThanOrEqual(2000);
        } else {
          expect(next.waits).toEqual([]);
        }
        expect(emulator.requestCount({ path: `${TR}/alerts` })).toBe(1);
      },
    );

    it("holds requests after a POST's 429 too, though the POST itself is not retried", async () => {
      // Prepare
      refuseOnce(2, { method: 'POST', path: `${TR}/conns/connect` });
      const waits: number[] = [];
      const logger = capturingLogger();
      const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms), logger });
      const refused = await taniumFailure(
        client.request({ method: 'POST', path: `${TR}/conns/connect`, json: {} }),
      );

      // Act
      const next = await waitsOf(waits, () => client.request({ method: 'GET', path: CONNS }));

      // Assess: one warning for the pause, and the hold in the debug log with the request it held
      expect(refused.kind).toBe('unknown_outcome');
      expect(next.outcome).toBe(200);
      expect(next.waits).toHaveLength(1);
      expect(next.waits[0]).toBeGreaterThan(1000);
      const lines = logger.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.filter((line) => line.level === 'warn')).toEqual([
        {
          level: 'warn',
          message: "Tanium asked to hold off; this container's requests wait",
          status: 429,
          pauseMs: expect.any(Number),
        },
      ]);
      const { pauseMs } = lines.find((line) => line.level === 'warn') as { pauseMs: number };
      expect(pauseMs).toBeGreaterThan(1000);
      expect(pauseMs).toBeLessThanOrEqual(2000);
      expect(
        lines.filter((line) => line.message === 'Holding a Tanium request while Tanium asked to hold off'),
      ).toEqual([
        { level: 'debug', message: expect.any(String), method: 'GET', path: CONNS, waitMs: next.waits[0] },
      ]);
    });

    it('fails a request unsent, as transient, when the rest of the pause would outlast its deadline', async () => {
      // Prepare: the GET cannot wait out its 30 s inside its deadline, so it fails with the 429
      refuseOnce(30);
      const client = clientFor(emulator, { sleep: async () => undefined });
      await taniumFailure(client.request({ method: 'GET', path: CONNS, deadline: Date.now() + 5000 }));

      // Act: a POST, which is never retried once sent, whose deadline leaves the rest of the pause but
      // not an attempt's time after it
      const error = await taniumFailure(
        client.request({
          method: 'POST',
          path: `${TR}/conns/connect`,
          json: {},
          deadline: Date.now() + 30_000 + MIN_ATTEMPT_MS / 2,
        }),
      );

      // Assess: safe to run again (nothing was sent), and not before the pause ends
      expect(error).toMatchObject({ kind: 'transient', retryable: true });
      expect(error.message).toBe(
        `Tanium asked to hold off for 30 s more (a 429 answer with Retry-After); POST ${TR}/conns/connect was not sent, as the wait would outlast the invocation`,
      );
      expect(error.retryAfterMs).toBeGreaterThan(28_000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
      expect(emulator.requestCount({ path: `${TR}/conns/connect` })).toBe(0);
    });

    it('sends a held request when the rest of the pause leaves exactly MIN_ATTEMPT_MS before its deadline', async () => {
      // Prepare: time stands still; a GET's 429 asks for 2 s
      refuseOnce(2);
      const waits: number[] = [];
      const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms) });
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now);
      await client.request({ method: 'GET', path: CONNS });

      // Act: another request, whose deadline leaves an attempt's time once the pause is over
      const response = await client.request({
        method: 'GET',
        path: `${TR}/alerts`,
        deadline: now + 2000 + MIN_ATTEMPT_MS,
      });

      // Assess: held for the pause, then sent
      expect(response.status).toBe(200);
      expect(waits).toEqual([2000, 2000]);
      expect(emulator.requestCount({ path: `${TR}/alerts` })).toBe(1);
    });

    it('holds for a minute at most, a longer ask extends the pause, a shorter one does not end it', async () => {
      // Prepare: waits are recorded, not spent, so time stands still
      const waits: number[] = [];
      const logger = capturingLogger();
      const client = clientFor(emulator, { sleep: async (ms) => waits.push(ms), logger });
      const get = (deadline?: number) =>
        waitsOf(waits, () =>
          client.request({ method: 'GET', path: CONNS, ...(deadline === undefined ? {} : { deadline }) }),
        );

      // Act
      refuseOnce(2);
      const first = await get();
      // Asked for an hour while held: it cannot wait that out before its deadline, so it fails
      refuseOnce(3600);
      const extended = await get(Date.now() + 5000);
      const capped = await get();
      refuseOnce(2);
      const shorter = await get();
      const after = await get();

      // Assess
      expect(first).toEqual({ waits: [2000], outcome: 200 });
      expect(extended.waits).toHaveLength(1);
      expect(extended.outcome).toMatchObject({ kind: 'transient', retryAfterMs: 3_600_000 });
      expect(capped.outcome).toBe(200);
      expect(capped.waits).toHaveLength(1);
      expect(capped.waits[0]).toBeGreaterThan(59_000);
      expect(capped.waits[0]).toBeLessThanOrEqual(60_000);
      // The minute's hold, then its own retry's 2 s
      expect(shorter.outcome).toBe(200);
      expect(shorter.waits).toEqual([expect.any(Number), 2000]);
      expect(shorter.waits[0]).toBeGreaterThan(59_000);
      expect(after.waits).toHaveLength(1);
      expect(after.waits[0]).toBeGreaterThan(59_000);
      // One warning: the later asks came while the pause was on
      expect(logger.lines.filter((line) => JSON.parse(line).level === 'warn')).toHaveLength(1);
    });

    it('does not hold a request again for the pause its own answer asked for, after a transport failure it waited out', async () => {
      // Prepare: a 429 asking for 2 s, then a reset; waits are recorded, not spent (time stands still),
      // and this client's backoff is not 0
      refuseOnce(2);
      emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'resetBeforeHeaders' });
      const waits: number[] = [];
      const client = new TaniumClient(credentialsFor(emulator), {
        random: () => 1,
        sleep: async (ms) => waits.push(ms),
      });

      // Act
      const response = await client.request({ method: 'GET', path: CONNS });

      // Assess: Retry-After, then the backoff after the reset; the pause was over by then
      expect(response.status).toBe(200);
      expect(waits).toEqual([2000, expect.any(Number)]);
      expect(waits[1]).toBeGreaterThan(0);
      expect(emulator.requestCount({ path: CONNS })).toBe(3);
    });
  });

  describe('transport failures', () => {
    it('names the host whose DNS lookup failed', async () => {
      // Prepare: `.invalid` never resolves (RFC 6761)
      const client = clientFor(emulator, { secret: { base_url: 'https://tanium.invalid:8443/prefix' } });

      // Act
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

      // Assess: the host without port or path; the code is the resolver's (ENOTFOUND, or EAI_AGAIN offline)
      expect(error).toMatchObject({ kind: 'transport', retryable: true });
      expect(error.message).toMatch(
        /^Error connecting to server: DNS lookup failed for tanium\.invalid \((ENOTFOUND|EAI_AGAIN)\)$/,
      );
      expect(emulator.requests).toHaveLength(0);
    });

    it('retries a POST whose connect to every address of the host failed (it never reached Tanium)', async () => {
      // Prepare: the host resolves to an address that never answers, then to one that refuses. The client
      // builds its own agent, so the resolver that net.connect calls is where the addresses go in.
      const unanswered = await unansweredPort();
      const lookup = dns.lookup;
      vi.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: unknown, callback: unknown) => {
        if (hostname !== 'tanium-multi.test')
          return (lookup as (...args: unknown[]) => void)(hostname, options, callback);
        const addresses: LookupAddress[] = [
          { address: '127.0.0.1', family: 4 },
          { address: '127.0.0.2', family: 4 },
        ];
        (callback as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
      }) as typeof dns.lookup);
      const logger = capturingLogger();
      const base = `https://tanium-multi.test:${unanswered.port}`;
      const client = clientFor(emulator, { secret: { base_url: base }, logger });

      try {
        // Act
        const error = await taniumFailure(
          client.request({ method: 'POST', path: `${TR}/intels`, body: 'x' }),
        );

        // Assess: a connect failure, retried, not an unknown outcome; named by the refusal, not by the
        // first address's 250 ms attempt (whether a full accept queue drops or resets, it reads the same)
        expect(error).toMatchObject({ kind: 'transport', retryable: true });
        expect(error.message).toBe(
          `Error connecting to server: connection refused by tanium-multi.test:${unanswered.port}`,
        );
        const retries = logger.lines
          .map((line) => JSON.parse(line) as { message: string; failure?: string })
          .filter((line) => line.message === 'Retrying Tanium request after a transport failure');
        expect(retries.map((line) => line.failure)).toEqual(['refused', 'refused']);
      } finally {
        await unanswered.close();
      }
    });

    it('retries a POST whose connection was closed during the TLS handshake (it never reached Tanium)', async () => {
      // Prepare: a port that accepts, reads the TLS hello and hangs up, as a load balancer in front of a
      // restarting Tanium does
      let hellos = 0;
      const closing = createNetServer((socket) => {
        socket
          .on('error', () => undefined)
          .once('data', () => {
            hellos++;
            socket.end();
          });
      });
      closing.listen(0, '127.0.0.1');
      await once(closing, 'listening');
      const { port } = closing.address() as AddressInfo;
      const logger = capturingLogger();
      const client = clientFor(emulator, { secret: { base_url: `https://127.0.0.1:${port}` }, logger });
      try {
        // Act
        const error = await taniumFailure(
          client.request({ method: 'POST', path: `${TR}/on-demand-scans`, body: '{}' }),
        );

        // Assess: retried, and never reported as a scan that may have started
        expect(error).toMatchObject({ kind: 'transport', retryable: true });
        expect(error.message).toBe(
          `Error connecting to server: 127.0.0.1:${port} closed the connection during the TLS handshake`,
        );
        expect(hellos).toBe(3);
        const retries = logger.lines
          .map((line) => JSON.parse(line) as { message: string; failure?: string })
          .filter((line) => line.message === 'Retrying Tanium request after a transport failure');
        expect(retries.map((line) => line.failure)).toEqual(['handshake_closed', 'handshake_closed']);
      } finally {
        closing.close();
      }
    });

    it("adds no carried-out caveat to a DELETE's 404 after an attempt that never reached Tanium", async () => {
      // Prepare: the first connection is hung up on during the TLS handshake; later ones reach the emulator
      const target = new URL(emulator.url);
      let connections = 0;
      const proxy = createNetServer((socket) => {
        socket.on('error', () => undefined);
        if (++connections === 1) {
          socket.once('data', () => socket.end());
          return;
        }
        const upstream = connect(Number(target.port), target.hostname).on('error', () => socket.destroy());
        socket.pipe(upstream).pipe(socket);
      });
      proxy.listen(0, '127.0.0.1');
      await once(proxy, 'listening');
      const { port } = proxy.address() as AddressInfo;
      const client = clientFor(emulator, { secret: { base_url: `https://127.0.0.1:${port}` } });
      const path = `${TR}/conns/remote/remote:gone:1:1`;
      try {
        // Act
        const error = await taniumFailure(client.request({ method: 'DELETE', path }));

        // Assess
        expect(error.kind).toBe('not_found');
        expect(error.message).not.toContain(CARRIED_OUT_CAVEAT);
        expect(connections).toBe(2);
      } finally {
        await closeAgents();
        proxy.close();
      }
    });
  });

  describe('timeouts', () => {
    it('stops waiting for headers after timeout_seconds and retries a GET', async () => {
      // Prepare: the first and last of the three attempts time out (1 s, the least timeout_seconds
      // takes), the one between is reset, so the timeout is waited out only where the test needs it: once
      // to see a timed-out GET retried, once to see how the last attempt's timeout is reported.
      // Well past the timeout: a loaded machine runs both timers late, and a close margin let the answer win.
      emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'delay', ms: 3000 });
      emulator.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'resetBeforeHeaders' });
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'delay', ms: 3000 });
      const logger = capturingLogger();
      const client = clientFor(emulator, { secret: { timeout_seconds: 1 }, logger });

      // Act
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

      // Assess
      expect(error).toMatchObject({ kind: 'transient', retryable: true });
      expect(error.message).toBe(
        `Error connecting to server: no response from 127.0.0.1 within 1 s (GET ${CONNS})`,
      );
      expect(emulator.requestCount({ path: CONNS })).toBe(3);
      const retries = logger.lines
        .map((line) => JSON.parse(line) as { message: string; failure?: string })
        .filter((line) => line.message === 'Retrying Tanium request after a transport failure');
      expect(retries.map((line) => line.failure)).toEqual(['response_timeout', 'reset']);
    });

    it('cuts an attempt at the invocation deadline', async () => {
      // Prepare: Tanium holds its answer past the deadline
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'delay', ms: 4000 });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, deadline: Date.now() + JUST_OVER_MIN_ATTEMPT_MS }),
      );
      const sent = emulator.requests.filter((entry) => entry.path === CONNS);

      // Assess: the one attempt was given up while Tanium still held its answer (no status written yet),
      // not waited for and then reported late
      expect(error.message).toBe(
        `Error connecting to server: the invocation ran out of time during GET ${CONNS}`,
      );
      // What tells the alert poller its time for reading is up, not that Tanium failed.
      expect(error).toBeInstanceOf(DeadlineError);
      expect(sent.map((entry) => entry.status)).toEqual([0]);
    });

    it('reports a write already sent when the deadline cut it as one that may have been processed', async () => {
      // Prepare: the POST reaches Tanium, which holds its answer past the deadline
      emulator.faults.add({ method: 'POST', path: CONNS, kind: 'delay', ms: 4000 });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(
        client.request({
          method: 'POST',
          path: CONNS,
          json: { target: {} },
          deadline: Date.now() + JUST_OVER_MIN_ATTEMPT_MS,
        }),
      );

      // Assess: never "nothing was sent", which would let a caller run the write again
      expect(error.kind).toBe('unknown_outcome');
      expect(error.message).not.toContain('nothing was sent');
      expect(emulator.requests.some((r) => r.method === 'POST' && r.path === CONNS)).toBe(true);
    });

    it('keeps the bytes of an answer it cannot parse, where an echoed header may put the token, out of the error', async () => {
      // Prepare: a server whose answer undici's parser refuses, on a header line echoing the token
      const token = emulator.credentials.apiToken;
      const echoing = createNetServer((socket) => {
        socket
          .on('error', () => undefined)
          .once('data', () => socket.end(`HTTP/1.1 200 OK\r\n Session: ${token}\r\n\r\n`));
      });
      echoing.listen(0, '127.0.0.1');
      await once(echoing, 'listening');
      const { port } = echoing.address() as AddressInfo;
      const client = clientFor(emulator, { secret: { base_url: `http://127.0.0.1:${port}` } });
      try {
        // Act
        const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

        // Assess: the parser's failure is the cause, without what it read
        expect(error.message).toMatch(
          /^Error connecting to server: Response does not match the HTTP\/1\.1 protocol/,
        );
        expect(error.cause).toMatchObject({ name: 'HTTPParserError' });
        expect(inspect(error, { depth: null })).not.toContain(token);
      } finally {
        echoing.close();
      }
    });

    it('says a server that answers plain HTTP is not speaking TLS, rather than blaming the certificate', async () => {
      // Prepare: an http:// server behind an https:// base URL
      const plain = createHttpServer((_request, response) => response.end('hello'));
      plain.listen(0, '127.0.0.1');
      await once(plain, 'listening');
      const { port } = plain.address() as AddressInfo;
      const client = clientFor(emulator, { secret: { base_url: `https://127.0.0.1:${port}` } });
      try {
        // Act
        const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

        // Assess
        expect(error).toMatchObject({ kind: 'transport', retryable: false });
        expect(error.message).toMatch(
          new RegExp(
            `^Error connecting to server: 127\\.0\\.0\\.1:${port} did not answer with TLS \\(ERR_SSL_[A-Z_]+\\)\\. Check that base_url names Tanium's HTTPS address and port\\.$`,
          ),
        );
      } finally {
        plain.closeAllConnections();
        plain.close();
      }
    });

    it.each(['GET', 'POST'] as const)(
      'cuts a %s whose TLS handshake never completes at the deadline, and says nothing was sent',
      async (method) => {
        // Prepare: a port that accepts the connection and never answers the TLS hello
        const silent = await startSilentEndpoint();
        const client = clientFor(emulator, { secret: { base_url: silent.url.replace('http:', 'https:') } });
        try {
          // Act
          const error = await requestWithin(client, method, JUST_OVER_MIN_ATTEMPT_MS);

          // Assess: cut by the deadline while the handshake was still pending ("nothing was sent" comes
          // only from there), not ended by the 10 s connect timeout, which reads as a request cut mid-way
          expectNothingSent(error, method);
        } finally {
          silent.close();
        }
      },
    );

    it('cuts every request sharing a deadline at it, with no listener warning', async () => {
      // Prepare: a batch's worth of requests in flight at once, all under one invocation deadline.
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'delay', ms: 4000 });
      const client = clientFor(emulator);
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      const deadline = Date.now() + JUST_OVER_MIN_ATTEMPT_MS;
      // Act
      const errors = await Promise.all(
        Array.from({ length: 15 }, () =>
          taniumFailure(client.request({ method: 'GET', path: CONNS, deadline })),
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
      process.off('warning', onWarning);
      // Assert
      for (const error of errors) expect(error.message).toContain('ran out of time');
      expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
    });

    it.each(['GET', 'POST'] as const)(
      'starts no %s with less than a second left, and says nothing was sent so it can run again',
      async (method) => {
        const client = clientFor(emulator);
        const error = await requestWithin(client, method, 500);
        expectNothingSent(error, method);
        expect(emulator.requests).toHaveLength(0);
      },
    );
  });

  describe('request headers', () => {
    it('sends a raw body with its own content type, an empty one with a zero length, and the accept asked for', async () => {
      // Prepare
      const client = clientFor(emulator);

      // Act
      await client
        .request({
          method: 'POST',
          path: `${TR}/intels`,
          body: 'x',
          contentType: 'application/xml',
        })
        .catch(() => undefined);
      await client.request({ method: 'POST', path: `${TR}/intels`, body: '' }).catch(() => undefined);
      await client.request({ method: 'GET', path: CONNS, accept: 'application/zip' }).catch(() => undefined);
      await client.request({ method: 'GET', path: CONNS });

      // Assess
      expect(
        emulator.requests.map((request) => [
          request.headers['content-type'],
          request.headers['content-length'],
          request.headers.accept,
        ]),
      ).toEqual([
        ['application/xml', '1', 'application/json'],
        [undefined, '0', 'application/json'],
        [undefined, undefined, 'application/zip'],
        [undefined, undefined, 'application/json'],
      ]);
    });
  });

  describe('URLs', () => {
    it('keeps a hostile value inside its path segment', async () => {
      // Prepare
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: `${TR}/filedownload/${segment('file_id', '../x?y#z')}` }),
      );

      // Assess
      expect(error.kind).toBe('not_found');
      expect(emulator.requests[0]).toMatchObject({ path: `${TR}/filedownload/..%2Fx%3Fy%23z`, rawQuery: '' });
    });

    it('refuses a path that would leave the configured server, before sending anything', async () => {
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: '//evil.example/x' }));
      expect(error).toMatchObject({ kind: 'validation', retryable: false });
      expect(error.message).toBe('Refusing a request that would leave the configured Tanium server');
      expect(emulator.requests).toHaveLength(0);
    });

    it('refuses a path that does not start with a slash, before sending anything', async () => {
      const error = await taniumFailure(clientFor(emulator).request({ method: 'GET', path: 'status' }));
      expect(error).toMatchObject({ kind: 'validation', message: 'Invalid route status' });
      expect(emulator.requests).toHaveLength(0);
    });

    it('keeps the base URL path prefix', async () => {
      const prefixed = await startTestEmulator({ pathPrefix: '/tanium' });
      try {
        const client = clientFor(prefixed);
        await client.request({ method: 'GET', path: CONNS });
        expect(prefixed.requests[0]?.path).toBe(`/tanium${CONNS}`);
      } finally {
        await prefixed.close();
      }
    });

    it('keeps a base URL path prefix that needs encoding, encoded once', async () => {
      const prefixed = await startTestEmulator({ pathPrefix: '/my tanium' });
      try {
        const client = clientFor(prefixed);
        const response = await client.request({ method: 'GET', path: CONNS });
        expect(response.status).toBe(200);
        expect(prefixed.requests[0]?.path).toBe(`/my%20tanium${CONNS}`);
      } finally {
        await prefixed.close();
      }
    });

    it('refuses a URL longer than servers can be relied on to accept, before sending anything', async () => {
      // Prepare: a query that takes the path and query one character past the limit, and one at it
      const client = clientFor(emulator);
      const longest = (extra: number) =>
        client.request({
          method: 'GET',
          path: CONNS,
          query: query([['q', 'a'.repeat(MAX_URL_CHARS - CONNS.length - '?q='.length + extra)]]),
        });

      // Act
      const error = await taniumFailure(longest(1));
      const atLimit = await longest(0);

      // Assess
      expect(error.kind).toBe('validation');
      expect(error.message).toBe(
        'The request URL would be 8,001 characters long once its parameters are encoded, over the 8,000 a Tanium server can be relied on to accept: shorten the parameter values',
      );
      expect(atLimit.status).toBe(200);
      expect(emulator.requests).toHaveLength(1);
      expect(emulator.requests[0]?.rawQuery).toHaveLength(MAX_URL_CHARS - CONNS.length - 1);
    });

    it('refuses a URL too long before logging in for it', async () => {
      // Prepare: username and password only, so the first request would log in first
      const client = clientFor(emulator, { auth: 'password' });

      // Act
      const error = await taniumFailure(
        client.request({ method: 'GET', path: CONNS, query: query([['q', 'a'.repeat(MAX_URL_CHARS)]]) }),
      );

      // Assess: refused as it was, and Tanium saw nothing, not even a login
      expect(error.kind).toBe('validation');
      expect(error.message).toMatch(/^The request URL would be 8,\d{3} characters long/);
      expect(emulator.requests).toHaveLength(0);
    });

    it.each([300, 302])('reports a %i as an error, not as an empty answer or a download', async (status) => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'redirect', status });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      const streamed = await taniumFailure(client.stream({ method: 'GET', path: CONNS }));
      expect(error).toMatchObject({ kind: 'tanium', status });
      expect(streamed).toMatchObject({ kind: 'tanium', status });
    });

    it('does not follow redirects', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'redirect' });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error.kind).toBe('tanium');
      expect(error.message).toMatch(/^Error from server\. Status Code: 302/);
      expect(emulator.requests).toHaveLength(1);
    });
  });

  describe('responses', () => {
    it.each(['text', 'errors', 'message', 'plain'] as const)('reads a %s error body', async (shape) => {
      emulator.faults.add({
        method: 'GET',
        path: CONNS,
        kind: 'status',
        status: 400,
        shape,
        message: 'first error',
      });
      const client = clientFor(emulator);
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error.message).toBe('Error from server. Status Code: 400 Data from server: first error');
    });

    it('reads an empty error body', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'status', status: 400, shape: 'empty' });
      const error = await taniumFailure(clientFor(emulator).request({ method: 'GET', path: CONNS }));
      expect(error.message).toBe('Error from server. Status Code: 400 Data from server: Empty response');
    });

    it.each([
      [413, 'its body'],
      [414, 'its URL'],
      [431, 'its URL or headers'],
    ])('says what a %i refused, since such answers rarely say anything', async (status, what) => {
      // Prepare
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'status', status, shape: 'empty' });

      // Act
      const error = await taniumFailure(clientFor(emulator).request({ method: 'GET', path: CONNS }));

      // Assess
      expect(error.kind).toBe('tanium');
      expect(error.message).toBe(
        `Error from server. Status Code: ${status} Data from server: Empty response The server refused the request as too large (HTTP ${status}, ${what}): shorten the parameter values.`,
      );
    });

    it('reports HTML where JSON was expected', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'html200' });
      const error = await taniumFailure(clientFor(emulator).request({ method: 'GET', path: CONNS }));
      expect(error.kind).toBe('tanium');
      expect(error.message).toMatch(
        /^Unexpected HTML response from server\. Status Code: 200 Data from server: \S/,
      );
    });

    it('asks for answers as they are, and names the coding of one a proxy compressed anyway', async () => {
      // Prepare
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'compressed', times: 1 });
      const client = clientFor(emulator);

      // Act
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      const next = await client.request({ method: 'GET', path: CONNS });

      // Assess
      expect(error.kind).toBe('tanium');
      expect(error.retryable).toBe(false);
      expect(error.status).toBe(200);
      expect(error.message).toMatch(
        /^Tanium's answer came with Content-Encoding gzip, which was not asked for/,
      );
      expect(emulator.requests.map((request) => request.headers['accept-encoding'])).toEqual([
        'identity',
        'identity',
      ]);
      // The connection the compressed answer came on is still good for the next request.
      expect(Array.isArray(next.payload)).toBe(true);
    });

    it('reads a compressed error answer as the error it is, not as an unasked-for coding', async () => {
      // Prepare: no connection has this id; a proxy compresses the 404 all the same
      const path = `${TR}/conns/remote/remote:gone:1:1`;
      emulator.faults.add({ method: 'DELETE', path, kind: 'compressed' });

      // Act
      const error = await taniumFailure(clientFor(emulator).request({ method: 'DELETE', path }));

      // Assess
      expect(error).toMatchObject({ kind: 'not_found', status: 404 });
      expect(error.message).not.toContain('Content-Encoding');
    });

    it.each([
      { coding: 'none', headers: { 'content-type': 'text/plain' } },
      {
        coding: 'br, not decoded for an error',
        headers: { 'content-type': 'text/plain', 'content-encoding': 'br' },
      },
    ])(
      'reads the body of a 300 into its error, streamed or not (content coding: $coding)',
      async ({ headers }) => {
        // Prepare: 300 is the first status past 2xx, neither a download nor an answer to decode
        const server = await startAnsweringServer((response) => {
          response.writeHead(300, headers);
          response.end('Pick one');
        });
        const client = clientFor(emulator, { secret: { base_url: server.url } });
        try {
          // Act
          const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
          const streamed = await taniumFailure(client.stream({ method: 'GET', path: CONNS }));

          // Assess
          const message = 'Error from server. Status Code: 300 Data from server: Pick one';
          expect(error).toMatchObject({ kind: 'tanium', status: 300, message });
          expect(streamed).toMatchObject({ kind: 'tanium', status: 300, message });
        } finally {
          server.close();
        }
      },
    );

    it('hands over the unread body of a streamed 2xx, and reads the body of a streamed error into its message', async () => {
      // Prepare
      const client = clientFor(emulator);
      emulator.faults.add({
        method: 'GET',
        path: `${TR}/status`,
        kind: 'status',
        status: 400,
        shape: 'message',
        message: 'streamed refusal',
      });

      // Act
      const stream = await client.stream({ method: 'GET', path: CONNS });
      const chunks: Buffer[] = [];
      for await (const chunk of stream.body) chunks.push(chunk as Buffer);
      const error = await taniumFailure(client.stream({ method: 'GET', path: `${TR}/status` }));

      // Assess
      expect(stream).toMatchObject({ status: 200, auth: 'token' });
      expect(Array.isArray(JSON.parse(Buffer.concat(chunks).toString('utf8')))).toBe(true);
      expect(error.message).toBe('Error from server. Status Code: 400 Data from server: streamed refusal');
    });

    it.each([
      [1_000_000, '1 MB'],
      [1_250_000, '1.3 MB'],
    ])('names a size limit of %i bytes in megabytes', async (bytes, shown) => {
      // Prepare: an answer over either limit
      const server = await startAnsweringServer((response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(`"${'x'.repeat(1_300_000)}"`);
      });
      const client = new TaniumClient(credentialsFor(emulator, { secret: { base_url: server.url } }), {
        answerLimit: { bytes },
        random: () => 0,
      });
      try {
        // Act
        const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));

        // Assess
        expect(error.kind).toBe('too_large');
        expect(error.message).toMatch(
          new RegExp(`^Response from server is too large: over ${shown.replace('.', '\\.')}, `),
        );
      } finally {
        server.close();
      }
    });

    it('reads an answer that declares the identity coding, in any case', async () => {
      // Prepare
      const server = await startAnsweringServer((response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'Identity' });
        response.end('{"id":1}');
      });
      const client = clientFor(emulator, { secret: { base_url: server.url } });
      try {
        // Act
        const response = await client.request({ method: 'GET', path: CONNS });

        // Assess
        expect(response.payload).toEqual({ id: 1 });
      } finally {
        server.close();
      }
    });

    it('reports JSON that does not parse', async () => {
      emulator.faults.add({ method: 'GET', path: CONNS, kind: 'malformedJson' });
      const error = await taniumFailure(clientFor(emulator).request({ method: 'GET', path: CONNS }));
      expect(error.kind).toBe('tanium');
      expect(error.message).toMatch(/^Unable to parse JSON response\. Error: /);
    });

    it('refuses a JSON answer over the size limit', async () => {
      const client = new TaniumClient(credentialsFor(emulator), {
        answerLimit: { bytes: 64 },
        random: () => 0,
      });
      const error = await taniumFailure(client.request({ method: 'GET', path: CONNS }));
      expect(error.kind).toBe('too_large');
      expect(error.message).toBe(
        'Response from server is too large: over 64 bytes, the most read for one request. Where the action takes a limit, ask for fewer rows',
      );
      // The same request under the default limit reads the whole list.
      expect(Array.isArray((await clientFor(emulator).request({ method: 'GET', path: CONNS })).payload)).toBe(
        true,
      );
    });

    it('reads an answer of exactly the size limit, and names why the limit is lower and what to do over it', async () => {
      // Prepare: a server whose answer is a known number of bytes
      const body = '{"data":[{"id":1}]}';
      const server = await startAnsweringServer((response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(body);
      });
      const credentials = credentialsFor(emulator, { secret: { base_url: server.url } });
      const limited = (bytes: number) =>
        new TaniumClient(credentials, {
          answerLimit: { bytes, why: 'a tenth of the memory', advice: 'Give it more memory' },
          random: () => 0,
        });
      try {
        // Act
        const exact = await limited(body.length).request({ method: 'GET', path: CONNS });
        const error = await taniumFailure(limited(body.length - 1).request({ method: 'GET', path: CONNS }));

        // Assess
        expect(exact.payload).toEqual([{ id: 1 }]);
        expect(error.kind).toBe('too_large');
        expect(error.message).toBe(
          `Response from server is too large: over ${body.length - 1} bytes, the most read for one request (a tenth of the memory). Give it more memory`,
        );
      } finally {
        server.close();
      }
    });

    it.each([
      ['application/json; charset=utf-8', '{"data":[{"id":1}]}', [{ id: 1 }]],
      ['text/plain', '{"id":1}', { id: 1 }],
      ['text/plain', 'plain text', 'plain text'],
    ])(
      'reads a %s answer %j that starts with a UTF-8 byte order mark',
      async (contentType, body, payload) => {
        // Prepare: a server that writes the mark before the body
        const marking = await startAnsweringServer((response) => {
          response.writeHead(200, { 'content-type': contentType });
          response.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]));
        });
        const client = clientFor(emulator, { secret: { base_url: marking.url } });
        try {
          // Act
          const response = await client.request({ method: 'GET', path: CONNS });

          // Assess
          expect(response.payload).toEqual(payload);
        } finally {
          marking.close();
        }
      },
    );

    it('unwraps {data} and keeps meta', async () => {
      const response = await clientFor(emulator).request({ method: 'GET', path: `${TR}/alerts` });
      expect(Array.isArray(response.payload)).toBe(true);
      expect(response.meta).toMatchObject({ totalCount: 8, filteredCount: 8 });
    });

    it('marks only a {data} answer as wrapped, and gives a bare answer no meta', async () => {
      // Prepare
      const client = clientFor(emulator);

      // Act
      const wrapped = await client.request({ method: 'GET', path: `${TR}/alerts` });
      const bare = await client.request({ method: 'GET', path: CONNS });

      // Assess: callers tell the two shapes apart by these fields alone
      expect(wrapped.wrapped).toBe(true);
      expect(bare).not.toHaveProperty('wrapped');
      expect(bare).not.toHaveProperty('meta');
    });

    it('accepts a bare body and an empty body', async () => {
      const client = clientFor(emulator);
      expect(Array.isArray((await client.request({ method: 'GET', path: CONNS })).payload)).toBe(true);
      emulator.switches.eventsCountEmptyBody = true;
      const empty = await client.request({
        method: 'GET',
        path: `${TR}/conns/remote:test-client-1:2029399999:1/views/network/eventsCount`,
      });
      expect(empty.payload).toBeNull();
    });
  });

  describe('connection reuse', () => {
    // Each test counts the connections of its own emulator, from a client with no pooled ones.
    let fresh: Emulator;
    let client: TaniumClient;
    const SCANS = `${TR}/on-demand-scans`;
    const get = () => client.request({ method: 'GET', path: CONNS });
    const scan = () =>
      client.request({ method: 'POST', path: SCANS, json: { intelDocId: 11, computerGroupId: 34 } });

    beforeEach(async () => {
      fresh = await startTestEmulator();
      await closeAgents();
      client = clientFor(fresh);
    });
    afterEach(async () => {
      vi.useRealTimers();
      await fresh.close();
    });

    it('makes sequential calls over one kept-alive TCP connection', async () => {
      // Act
      for (let i = 0; i < 20; i++) await get();

      // Assess
      expect(fresh.requestCount()).toBe(20);
      expect(fresh.connectionCount).toBe(1);
    });

    it('shares the kept-alive connection with a later client of the same TLS setting (a rotated secret)', async () => {
      // Prepare: one client's call opens a connection
      await get();

      // Act: the client a rotated secret brings, with the same TLS setting
      const rotated = clientFor(fresh);
      await rotated.request({ method: 'GET', path: CONNS });

      // Assess
      expect(fresh.requestCount()).toBe(2);
      expect(fresh.connectionCount).toBe(1);
    });

    it('sends a POST after an idle spell on a new connection, not on one the server may have forgotten', async () => {
      // Prepare: one call opens a connection; then the container sits idle (a frozen Lambda runs no
      // timers, so undici never retires the socket), and the server, or a NAT gateway, forgets it
      await get();
      fresh.faults.add({ reusedConnectionOnly: true, kind: 'resetBeforeHeaders' });
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS + 1);

      // Act: a reset there would leave the scan's outcome unknown, never retried
      const response = await scan();

      // Assess
      expect(response.status).toBe(200);
      expect(fresh.connectionCount).toBe(2);
      expect(fresh.requestCount({ path: SCANS })).toBe(1);
    });

    it('judges the connections idle after a freeze even when a request given up before connecting is still queued', async () => {
      // Prepare: one call opens a connection; another, on a connection that stalls in its handshake, is
      // given up at its deadline as never sent (undici keeps it queued until its connect timeout, whose
      // timer counts no frozen time); then the container sits frozen and the first connection is forgotten
      await get();
      const silent = await startSilentEndpoint();
      try {
        const stalled = clientFor(fresh, { secret: { base_url: silent.url.replace('http:', 'https:') } });
        await taniumFailure(
          stalled.request({ method: 'GET', path: CONNS, deadline: Date.now() + JUST_OVER_MIN_ATTEMPT_MS }),
        );
        fresh.faults.add({ reusedConnectionOnly: true, kind: 'resetBeforeHeaders' });
        vi.useFakeTimers({ toFake: ['Date'] });
        vi.setSystemTime(Date.now() + 10 * 60_000);

        // Act
        const response = await scan();

        // Assess: a new connection, not an unknown outcome on the forgotten one
        expect(response.status).toBe(200);
        expect(fresh.connectionCount).toBe(2);
      } finally {
        silent.close();
      }
    });

    it('judges each pooled connection by its own idle time, not by the last request of the agent', async () => {
      // Prepare: a batch's concurrent calls open two connections; later calls, one at a time, keep only
      // the first busy (undici takes the first free one), so the second idles past the limit unseen
      vi.useFakeTimers({ toFake: ['Date'] });
      await Promise.all([get(), get()]);
      expect(fresh.connectionCount).toBe(2);
      vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS - 1000);
      await get();
      vi.setSystemTime(Date.now() + 2000);
      fresh.faults.add({ reusedConnectionOnly: true, kind: 'resetBeforeHeaders' });

      // Act: the next batch sends two at once, so one of them would go on the connection left idle
      const responses = await Promise.all([scan(), scan()]);

      // Assess
      expect(responses.map((response) => response.status)).toEqual([200, 200]);
      expect(fresh.requestCount({ path: SCANS })).toBe(2);
    });

    it('forgets a connection once it closes, rather than judging the agent stale for it', async () => {
      // Prepare: a connection is opened; a while later the server resets it under a GET, which is retried
      // on a new connection
      vi.useFakeTimers({ toFake: ['Date'] });
      await get();
      vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS - 1000);
      fresh.faults.add({ method: 'GET', path: CONNS, times: 1, kind: 'resetBeforeHeaders' });
      await get();
      expect(fresh.connectionCount).toBe(2);

      // Act: past the idle limit of the closed connection, not of the live one
      vi.setSystemTime(Date.now() + 2000);
      const response = await scan();

      // Assess: the live connection was used again
      expect(response.status).toBe(200);
      expect(fresh.connectionCount).toBe(2);
    });

    it('keeps its connections while a slow answer is awaited, which is not an idle connection', async () => {
      // Prepare: Tanium takes a while to answer two calls; the second starts after more than the limit
      vi.useFakeTimers({ toFake: ['Date'] });
      fresh.faults.add({ method: 'GET', path: CONNS, kind: 'delay', ms: 300, times: 2 });
      const first = get();
      await vi.waitFor(() => expect(fresh.requestCount({ path: CONNS })).toBe(1));
      vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS + 1000);
      const second = get();
      await Promise.all([first, second]);

      // Act: the next batch
      await Promise.all([get(), get()]);

      // Assess: the two connections the slow calls used are used again, not dropped with their agent
      expect(fresh.connectionCount).toBe(2);
    });

    it('keeps the agent while one request on it is awaited, though another has finished since', async () => {
      // Prepare: a server that holds its first answer until the test releases it, and counts connections
      const held: ServerResponse[] = [];
      const sockets = new Set<unknown>();
      const server = await startAnsweringServer((response) => {
        sockets.add(response.socket);
        if (held.length === 0) held.push(response);
        else response.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      });
      try {
        const slowServer = clientFor(fresh, { secret: { base_url: server.url } });
        const getThere = () => slowServer.request({ method: 'GET', path: CONNS });
        vi.useFakeTimers({ toFake: ['Date'] });
        const slow = getThere();
        await vi.waitFor(() => expect(held).toHaveLength(1));
        await getThere();

        // Act: past the idle limit, while the first answer is still awaited
        vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS + 1000);
        const during = await getThere();
        held[0]?.writeHead(200, { 'content-type': 'application/json' }).end('[]');
        await slow;

        // Assess: the finished request's connection was used again, not a new agent's
        expect(during.status).toBe(200);
        expect(sockets.size).toBe(2);
      } finally {
        server.close();
      }
    });

    it('moves another client of the setting onto the agent that replaced a stale one, without replacing it again', async () => {
      // Prepare: two clients share the agent and its connection; then the container sits frozen
      const other = clientFor(fresh);
      await get();
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + IDLE_REUSE_LIMIT_MS + 1);

      // Act: the first client replaces the stale agent; the other, still holding it, follows
      await get();
      await other.request({ method: 'GET', path: CONNS });

      // Assess: one connection before the freeze, one after, shared by both
      expect(fresh.requestCount({ path: CONNS })).toBe(3);
      expect(fresh.connectionCount).toBe(2);
    });
  });
});
