import { request } from 'node:https';

/**
 * POSTs `body` as JSON to the emulator's control surface (`/__emulator/switches`, `/__emulator/faults`),
 * trusting `ca`, or, for an emulator whose CA the test never saw (one the pipeline started in its own
 * process), any certificate of this loopback call.
 */
export function postEmulatorControl(
  baseUrl: string,
  path: string,
  body: unknown,
  ca?: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, baseUrl),
      {
        method: 'POST',
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        headers: { 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200
            ? resolve()
            : reject(new Error(`${path} refused: ${response.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
