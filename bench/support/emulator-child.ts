// Runs the emulator in its own process for benchmarks, so its CPU use is not billed to the code measured.
import { startEmulator } from '../../test/emulator/index.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startEmulator>[0];
const emulator = await startEmulator({ clock: 'real', ...options });
process.send?.({ url: emulator.url, ca: emulator.ca, credentials: emulator.credentials });
process.on('message', async (message: { type?: string }) => {
  if (message?.type === 'count')
    process.send?.({ count: emulator.requestCount(), connections: emulator.connectionCount });
});
process.on('disconnect', () => {
  void emulator.close().finally(() => process.exit(0));
});
