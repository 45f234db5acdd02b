import { setTimeout as sleep } from 'node:timers/promises';
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { PollerError } from './errors.ts';
import type { AlertEntry, AlertPublisher } from './types.ts';

export const PUT_EVENTS_ATTEMPTS = 5;

/**
 * PutEvents with the per-entry retry the API needs: a 200 answer can still report failed entries
 * (throttling, internal errors), and only those are sent again, with backoff and jitter. The SDK
 * retries whole-call failures on its own.
 */
export class EventBridgePublisher implements AlertPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: { attempts?: number; baseDelayMs?: number; random?: () => number } = {},
  ) {}

  async publish(entries: AlertEntry[]): Promise<number> {
    const attempts = this.options.attempts ?? PUT_EVENTS_ATTEMPTS;
    const base = this.options.baseDelayMs ?? 100;
    const random = this.options.random ?? Math.random;
    let remaining: PutEventsRequestEntry[] = entries.map((entry) => ({
      ...entry,
      EventBusName: this.eventBusName,
    }));
    let calls = 0;
    for (let attempt = 1; ; attempt++) {
      calls++;
      const result = await this.client.send(new PutEventsCommand({ Entries: remaining }));
      const failed: PutEventsRequestEntry[] = [];
      const codes = new Set<string>();
      (result.Entries ?? []).forEach((entry, i) => {
        if (entry.ErrorCode) {
          failed.push(remaining[i]!);
          codes.add(entry.ErrorCode);
        }
      });
      if (failed.length === 0 && (result.FailedEntryCount ?? 0) === 0) return calls;
      if (failed.length === 0) {
        // A failure count without per-entry codes: nothing tells which ones, so send them all again.
        failed.push(...remaining);
      }
      if (attempt >= attempts) {
        throw new PollerError(
          `EventBridge rejected ${failed.length} of ${remaining.length} alert events after ${attempts} attempts (${[...codes].join(', ') || 'no error code'})`,
        );
      }
      remaining = failed;
      await sleep(random() * Math.min(2000, base * 2 ** (attempt - 1)));
    }
  }
}
