import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startEmulator } from './index.ts';
import { TestClient } from './test-client.ts';
import type { Emulator, EmulatorOptions } from './types.ts';

/**
 * One emulator and its test client for a describe block: started before its tests, reset before each
 * one, stopped after them. Read `emulator` and `client` inside the tests, once they exist.
 */
export function useEmulator(options: EmulatorOptions = {}): {
  readonly emulator: Emulator;
  readonly client: TestClient;
} {
  let emulator: Emulator | undefined;
  let client: TestClient | undefined;
  beforeAll(async () => {
    emulator = await startEmulator(options);
    client = new TestClient(emulator);
  });
  afterAll(async () => {
    await client?.close();
    await emulator?.close();
  });
  beforeEach(() => emulator?.reset());
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the emulator starts in beforeAll: read it inside a test');
    return value;
  };
  return {
    get emulator() {
      return started(emulator);
    },
    get client() {
      return started(client);
    },
  };
}
