import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers (emulator, moto); two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
    restoreMocks: true,
    // The SDK warns that Node 20 support ends in 2027; Lambda runs nodejs22.x, so the warning is noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
