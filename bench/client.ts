/**
 * Client overhead: TaniumClient calls/second against the emulator next to raw undici calls/second
 * against the same endpoint, same run, same concurrency. Target: client_vs_raw_undici >= 0.9.
 *
 *   npm run bench -- client [--requests N] [--concurrency C]
 */
import { parseCredentials } from '../shared/config/credentials.ts';
import { closeAgents } from '../shared/tanium/agent.ts';
import { TaniumClient } from '../shared/tanium/client.ts';
import { TR } from '../shared/tanium/routes.ts';
import { median, numberFlag } from './support/args.ts';
import { startEmulatorProcess } from './support/emulator-process.ts';
import { rawUndiciGet } from './support/raw-undici.ts';

const REQUESTS = numberFlag('requests', 4000);
const CONCURRENCY = numberFlag('concurrency', 8);
const ROUNDS = numberFlag('rounds', 7);
const PATH = `${TR}/conns`;

async function measure(call: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await call();
    }),
  );
  return REQUESTS / ((performance.now() - started) / 1000);
}

const emulator = await startEmulatorProcess();
const client = new TaniumClient(
  parseCredentials(
    { base_url: emulator.url, api_token: emulator.credentials.apiToken, ca_bundle: emulator.ca },
    'bench',
  ),
);
const raw = rawUndiciGet(emulator, PATH);

const viaClient = () => client.request({ method: 'GET', path: PATH });
const viaRaw = raw.get;

// Warm both paths (TLS handshakes, JIT), then alternate rounds so drift affects both sides alike.
await measure(viaClient);
await measure(viaRaw);
const clientRates: number[] = [];
const rawRates: number[] = [];
const ratios: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which side goes first so warm-up and drift do not favour one of them.
  const clientFirst = round % 2 === 0;
  const a = await measure(clientFirst ? viaClient : viaRaw);
  const b = await measure(clientFirst ? viaRaw : viaClient);
  const [c, r] = clientFirst ? [a, b] : [b, a];
  clientRates.push(c);
  rawRates.push(r);
  ratios.push(c / r);
}
const clientRps = median(clientRates);
const rawRps = median(rawRates);

await raw.close();
await closeAgents();
await emulator.stop();

console.error(
  `client: ${clientRates.map((r) => r.toFixed(0)).join(', ')} req/s; raw undici: ${rawRates.map((r) => r.toFixed(0)).join(', ')} req/s (${REQUESTS} requests x ${ROUNDS} rounds, concurrency ${CONCURRENCY}, HTTPS keep-alive, emulator in its own process; ratio = median of per-round ratios)`,
);
console.log(
  JSON.stringify({
    bench: 'client',
    client_rps: Math.round(clientRps),
    raw_undici_rps: Math.round(rawRps),
    client_vs_raw_undici: Number(median(ratios).toFixed(3)),
  }),
);
