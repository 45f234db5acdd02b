import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { putEventsWithRetry } from '../events/put-events.ts';
import { PollerError } from './errors.ts';
import type { AlertEntry, AlertPublisher } from './types.ts';

export const PUT_EVENTS_ATTEMPTS = 5;

/** Alert events to the bus with the shared per-entry retry; entries still refused fail the batch. */
export class EventBridgePublisher implements AlertPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: { attempts?: number; baseDelayMs?: number; random?: () => number } = {},
  ) {}

  async publish(entries: AlertEntry[]): Promise<number> {
    const attempts = this.options.attempts ?? PUT_EVENTS_ATTEMPTS;
    const outcome = await putEventsWithRetry(
      this.client,
      entries.map((entry) => ({ ...entry, EventBusName: this.eventBusName })),
      {
        attempts,
        ...(this.options.baseDelayMs === undefined ? {} : { baseDelayMs: this.options.baseDelayMs }),
        ...(this.options.random ? { random: this.options.random } : {}),
      },
    );
    if (outcome.failed.length > 0) {
      throw new PollerError(
        `EventBridge rejected ${outcome.failed.length} of ${entries.length} alert events after ${attempts} attempts (${outcome.codes.join(', ') || 'no error code'})`,
      );
    }
    return outcome.calls;
  }
}
