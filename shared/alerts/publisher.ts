import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsCallError } from '../config/aws-errors.ts';
import {
  ABORTED_CODE,
  isRetryableEntryCode,
  type PutEventsOutcome,
  putEventsWithRetry,
} from '../events/put-events.ts';
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

  async publish(entries: AlertEntry[], signal?: AbortSignal): Promise<PublishOutcome> {
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
          ...(signal ? { signal } : {}),
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
      const notTaken = new Set(outcome.errors.map((error) => error.index));
      const taken = entries.flatMap((_, index) => (notTaken.has(index) ? [] : [index]));
      const tries = ` after ${outcome.calls} attempt${outcome.calls === 1 ? '' : 's'}`;
      // Cut by the signal, an entry was not refused, only not confirmed: it may well go through next time.
      const cut = failing.filter((error) => error.code === ABORTED_CODE);
      const rejected = failing.filter((error) => error.code !== ABORTED_CODE);
      if (rejected.length === 0) {
        throw new UnpublishedEntriesError(
          'transient',
          `PutEvents to bus '${this.eventBusName}' stopped with ${cut.length} of ${alertEvents(entries.length)} not confirmed${tries}: ${cut[0]?.message}`,
          taken,
          outcome.calls,
          { retryable: true },
        );
      }
      const unconfirmed = cut.length > 0 ? `; ${cut.length} more not confirmed: ${cut[0]?.message}` : '';
      const codes = [...new Set(rejected.map((error) => error.code))].join(', ');
      const retryable = cut.length > 0 || rejected.some((error) => isRetryableEntryCode(error.code));
      // Entries refused for good, not for their content, are refused for who sends them (access, source):
      // the deployment's to fix. Retried entries were sent on every call; one refused for good, once.
      throw new UnpublishedEntriesError(
        retryable ? 'transient' : 'config',
        `EventBridge bus '${this.eventBusName}' rejected ${rejected.length} of ${alertEvents(entries.length)}${retryable ? tries : ''} (${codes}): ${rejected[0]?.message}${unconfirmed}`,
        taken,
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
