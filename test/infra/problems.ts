import { expect } from 'vitest';

/**
 * The message of the configuration problems `resolve` throws, failing the test when it throws nothing
 * or anything else (a TypeError above all).
 */
export function problemsOf(resolve: () => unknown): string {
  try {
    resolve();
  } catch (error) {
    expect(error).not.toBeInstanceOf(TypeError);
    expect(String((error as Error).message)).toMatch(/^Invalid configuration for environment '/);
    return (error as Error).message;
  }
  return expect.fail('resolved without a problem');
}
