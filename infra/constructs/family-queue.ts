import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEAD_LETTER_RETENTION_DAYS, SOURCE_QUEUE_RETENTION_DAYS } from '../../shared/config/retention.ts';
import { type Family, familyRequestPattern, unroutedRequestPattern } from '../families.ts';
import { visibilityTimeoutSeconds } from '../queue-timing.ts';
import { dataRemovalPolicy } from '../removal-policy.ts';

export interface FamilyQueueProps {
  readonly family: Family;
  readonly bus: events.IEventBus;
  /** The consuming function's timeout; the queue hides a record for six of them plus the batching window. */
  readonly functionTimeoutSeconds: number;
  readonly maxBatchingWindowSeconds: number;
  readonly maxReceiveCount: number;
  /** Sources allowed to send requests through the rule; empty accepts any. */
  readonly requestSources: readonly string[];
  /** Keep the DLQ, and the requests that failed for good in it, when the stack is deleted. */
  readonly retainData: boolean;
}

/**
 * A family's inbox: an encrypted, TLS-only queue with a DLQ after `maxReceiveCount` deliveries, and a
 * bus rule that routes "Action Request" events naming one of the family's actions into it.
 */
export class FamilyQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly rule: events.Rule;
  public readonly visibilityTimeoutSeconds: number;

  constructor(scope: Construct, id: string, props: FamilyQueueProps) {
    super(scope, id);
    this.visibilityTimeoutSeconds = visibilityTimeoutSeconds(
      props.functionTimeoutSeconds,
      props.maxBatchingWindowSeconds,
    );
    // The requests in either queue are kept alike.
    const removalPolicy = dataRemovalPolicy(props.retainData);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(DEAD_LETTER_RETENTION_DAYS),
      removalPolicy,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS-managed keys: EventBridge can deliver to them without a customer key policy.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(this.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(SOURCE_QUEUE_RETENTION_DAYS),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
      removalPolicy,
    });

    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      description: `Action requests for the ${props.family} family`,
      eventPattern: familyRequestPattern(props.family, props.requestSources),
      // Events EventBridge cannot deliver land in the family DLQ instead of vanishing.
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue })],
    });
  }
}

/**
 * Routes the `Action Request` events no family rule matches (an unknown action, or none) into one
 * family's queue, whose function answers each with a failed result: EventBridge would drop them.
 */
export function routeUnroutedRequests(
  scope: Construct,
  id: string,
  props: { bus: events.IEventBus; into: FamilyQueue; requestSources: readonly string[] },
): events.Rule {
  return new events.Rule(scope, id, {
    eventBus: props.bus,
    description: 'Action requests no family rule matches; answered with a failed result',
    eventPattern: unroutedRequestPattern(props.requestSources),
    targets: [new targets.SqsQueue(props.into.queue, { deadLetterQueue: props.into.deadLetterQueue })],
  });
}
