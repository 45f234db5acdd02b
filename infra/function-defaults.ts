/**
 * Each function's size and limits by default: plain data with no CDK import, so the local pipeline
 * (cli/local) gives its invocations the same remaining time as the deployed functions get.
 */
import type { FunctionName } from './families.ts';

/** Size and limits of one function, and how its queue feeds it (ignored for the poller). */
export interface FunctionSettings {
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
  /** `/tmp` size; Lambda's default is 512. */
  readonly ephemeralStorageMiB?: number;
  /** SQS records per invocation. */
  readonly batchSize: number;
  /** How long SQS gathers records before invoking; 0 invokes as soon as a record arrives. */
  readonly maxBatchingWindowSeconds: number;
  /**
   * Upper bound on concurrent invocations from the queue (2..1000; unset: as many as Lambda scales to).
   * It spares the Tanium server, and a burst waits in the queue instead of reaching the account's
   * concurrency limit, where every throttled batch still costs its records a receive.
   */
  readonly maxConcurrency?: number;
}

const DEFAULT_FAMILY: FunctionSettings = {
  memoryMiB: 512,
  timeoutSeconds: 120,
  batchSize: 5,
  maxBatchingWindowSeconds: 0,
  maxConcurrency: 5,
};

export const DEFAULT_FUNCTIONS: Record<FunctionName, FunctionSettings> = {
  connections: DEFAULT_FAMILY,
  snapshots: DEFAULT_FAMILY,
  investigation: DEFAULT_FAMILY,
  // get file streams archives of up to GET_FILE_MAX_BYTES, hashes and spools entries through /tmp.
  evidence: {
    ...DEFAULT_FAMILY,
    memoryMiB: 1024,
    timeoutSeconds: 600,
    ephemeralStorageMiB: 2048,
    batchSize: 1,
  },
  intel: DEFAULT_FAMILY,
  alerts: DEFAULT_FAMILY,
  'alert-poller': { ...DEFAULT_FAMILY, memoryMiB: 512, timeoutSeconds: 120, batchSize: 1 },
};
