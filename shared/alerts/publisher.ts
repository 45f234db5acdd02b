import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { putEventsWithRetry } from '../events/put-events.ts';
import { PollerError } from './errors.ts';
import type { AlertEntry, AlertPublisher, PublishOutcome } from './types.ts';

export const PUT_EVENTS_ATTEMPTS = 5;

/**
 * Entry error codes about the entry itself (PutEventsResultEntry). The other final codes (access denied,
 * not authorised for the source or detail type) refuse every entry alike: a configuration to fix, so the
 * run fails and the alerts wait for the next one.
 */
const CONTENT_CODES = new Set(['InvalidArgument', 'MalformedDetail']);

/**
 * Alert events to the bus with the shared per-entry retry. Entries refused for their content are
 * returned; any other entry still failing fails the call.
 */
export class EventBridgePublisher implements AlertPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: { attempts?: number; baseDelayMs?: number; random?: () => number } = {},
  ) {}

  async publish(entries: AlertEntry[]): Promise<PublishOutcome> {
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
    const failing = outcome.errors.filter((error) => !CONTENT_CODES.has(error.code));
    if (failing.length > 0) {
      const codes = [...new Set(failing.map((error) => error.code))].join(', ');
      throw new PollerError(
        `EventBridge rejected ${failing.length} of ${entries.length} alert events after ${outcome.calls} attempt${outcome.calls === 1 ? '' : 's'} (${codes}): ${failing[0]?.message}`,
      );
    }
    return { calls: outcome.calls, refused: outcome.errors };
  }
}
