import { expect } from 'vitest';
import { TaniumError } from '../../shared/tanium/errors.ts';

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

/** The TaniumError a promise rejects with; fails the test for a resolution or any other error. */
export async function taniumFailure(promise: Promise<unknown>): Promise<TaniumError> {
  const error = await failure(promise);
  expect(error).toBeInstanceOf(TaniumError);
  return error as TaniumError;
}
