import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsCallError } from '../config/aws-errors.ts';
import { isRetryableEntryCode, type PutEventsOutcome, putEventsWithRetry } from '../events/put-events.ts';
import { UnpublishedEntriesError } from './errors.ts';
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
 * returned; any other entry still failing fails the call with an UnpublishedEntriesError that names the
 * entries the bus took.
 */
export class EventBridgePublisher implements AlertPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: { attempts?: number; baseDelayMs?: number; random?: () => number } = {},
  ) {}

  async publish(entries: AlertEntry[]): Promise<PublishOutcome> {
    const attempts = this.options.attempts ?? PUT_EVENTS_ATTEMPTS;
    let outcome: PutEventsOutcome;
    try {
      outcome = await putEventsWithRetry(
        this.client,
        entries.map((entry) => ({ ...entry, EventBusName: this.eventBusName })),
        {
          attempts,
          ...(this.options.baseDelayMs === undefined ? {} : { baseDelayMs: this.options.baseDelayMs }),
          ...(this.options.random ? { random: this.options.random } : {}),
        },
      );
    } catch (error) {
      throw awsCallError(
        `PutEvents of ${alertEvents(entries.length)} to bus '${this.eventBusName}' failed`,
        error,
      );
    }
    const failing = outcome.errors.filter((error) => !CONTENT_CODES.has(error.code));
    if (failing.length > 0) {
      const codes = [...new Set(failing.map((error) => error.code))].join(', ');
      // Retried entries were sent on every call; an entry refused for good, once.
      const retryable = failing.some((error) => isRetryableEntryCode(error.code));
      const tries = retryable ? ` after ${outcome.calls} attempt${outcome.calls === 1 ? '' : 's'}` : '';
      // Entries refused for good, not for their content, are refused for who sends them (access, source):
      // the deployment's to fix.
      const notTaken = new Set(outcome.errors.map((error) => error.index));
      throw new UnpublishedEntriesError(
        retryable ? 'transient' : 'config',
        `EventBridge bus '${this.eventBusName}' rejected ${failing.length} of ${alertEvents(entries.length)}${tries} (${codes}): ${failing[0]?.message}`,
        entries.flatMap((_, index) => (notTaken.has(index) ? [] : [index])),
        outcome.calls,
        { retryable },
      );
    }
    return { calls: outcome.calls, refused: outcome.errors };
  }
}

function alertEvents(count: number): string {
  return `${count} alert event${count === 1 ? '' : 's'}`;
}
