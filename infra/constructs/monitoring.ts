import { ArnFormat, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { POLLER_METRIC_NAMES } from '../../shared/alerts/metrics.ts';
import { POLLER_DEFAULTS } from '../../shared/alerts/settings.ts';
import { METRIC_NAMES } from '../../shared/events/metrics.ts';
import type { AlarmConfig } from '../environments.ts';
import { POLLER_FUNCTION } from '../families.ts';
import { failureAlarmWindows, lagAlarmPeriodMinutes, stoppedAlarmMinutes } from '../poller-schedule.ts';
import { dataRemovalPolicy } from '../removal-policy.ts';
import type { TaniumFunction } from './tanium-function.ts';

/*
 * The metric names the alarms watch are the ones the functions write (POLLER_METRIC_NAMES, METRIC_NAMES):
 * a rename there renames the alarm's metric too, instead of leaving an alarm that never fires.
 */

/**
 * The poller's lag metric (Powertools, milliseconds): how long the oldest alert known to wait for
 * publishing has waited. A run that caught up sends 0; one that could not read Tanium sends nothing (the
 * failure alarm covers it), so the age of the last alert on a quiet system never pages anyone.
 */
export const POLLER_LAG_METRIC = POLLER_METRIC_NAMES.lag;

/** Alerts EventBridge refused even with their identifying fields only: dropped, each logged with its id. */
export const POLLER_REFUSED_METRIC = POLLER_METRIC_NAMES.refused;

/** Alerts Tanium sent with neither id nor guid: never published (nothing to deduplicate them by). */
export const POLLER_UNIDENTIFIED_METRIC = POLLER_METRIC_NAMES.unidentified;

/** Results of mutating actions whose idempotency record could not be completed (the family handlers'). */
export const UNRECORDED_RESULTS_METRIC = METRIC_NAMES.unrecorded;

/**
 * Results published in another form than the action's own: too big for an event and not stored (the
 * vault refusing writes), or not serialisable (the family handlers', dimension service only).
 */
export const REPLACED_RESULTS_METRIC = METRIC_NAMES.replaced;

/** Results the family handlers could not publish (PutEvents failing or cut short; dimension service only). */
export const UNPUBLISHED_RESULTS_METRIC = METRIC_NAMES.unpublished;

/**
 * Final failures only the deployment's owner can fix: Tanium refusing the credentials or lacking a
 * permission, an unusable secret or setting, the vault refusing (the family handlers', dimension service
 * only). The queue counts those records as handled, so no other alarm sees them.
 */
export const SERVICE_FAILURES_METRIC = METRIC_NAMES.serviceFailures;

/**
 * Writes whose outcome is unknown (`unknown_outcome`: cut off, or refused with 429/502/503/504, after
 * they may have reached Tanium): final failures by the contract, never repeated, each needing a person
 * to check Tanium. A throttling Tanium under a burst of creates turns many requests into these.
 */
export const UNKNOWN_OUTCOMES_METRIC = METRIC_NAMES.unknownOutcomes;

/**
 * The queue age alarm's threshold: three visibility timeouts. SQS leaves messages received three times
 * or more out of ApproximateAgeOfOldestMessage, so a message it counts has had at most two deliveries,
 * each hidden at most one visibility timeout (the redelivery backoff stays below it). Always under the
 * queue's 4-day retention (the timeout is at most 12 hours), whatever maxReceiveCount is.
 */
export function queueAgeAlarmSeconds(visibilityTimeoutSeconds: number): number {
  return 3 * visibilityTimeoutSeconds;
}

/**
 * The poller instance the stack runs (`POLLER_NAME`): a metric dimension and its state record's key. The
 * stack runs one poller, under the name the poller itself takes when none is given.
 */
export const POLLER_NAME = POLLER_DEFAULTS.pollerName;

export interface MonitoringProps {
  readonly alarms: AlarmConfig;
  readonly metricsNamespace: string;
  readonly retainData: boolean;
}

/** Alarms on everything that loses or delays work, optionally notifying an encrypted SNS topic. */
export class Monitoring extends Construct {
  public readonly topic?: sns.Topic;
  private readonly props: MonitoringProps;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.props = props;
    if (props.alarms.topic) {
      // A customer key: CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key.
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: 'Encrypts the Tanium Threat Response alarm topic',
        enableKeyRotation: true,
        removalPolicy: dataRemovalPolicy(props.retainData),
      });
      const stack = Stack.of(this);
      // Only for this account's alarms, as the topic policy below: the service principal alone would let
      // any account's alarms use the key (the confused deputy).
      const thisAccountsAlarms = {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      };
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsUseKey',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
          conditions: thisAccountsAlarms,
        }),
      );
      this.topic = new sns.Topic(this, 'AlarmTopic', { masterKey: key, enforceSSL: true });
      // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: without this
      // statement CloudWatch may not publish, and every alarm action fails.
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: thisAccountsAlarms,
        }),
      );
      for (const email of props.alarms.emailSubscriptions) {
        this.topic.addSubscription(new subscriptions.EmailSubscription(email));
      }
    }
  }

  /**
   * Any message in a dead-letter queue is work that was not done, whether visible or not: `tanium-tr
   * redrive` hides what it reads (for up to an hour in a dry run, or a run killed outright), and a count
   * of visible messages alone would turn the alarm OK, notifying so, and raise it again once they
   * reappear. Missing data keeps the alarm as it is: SQS stops sending a queue's metrics once nothing has
   * accessed it for six hours, messages in it or not, and a DLQ nobody reads would otherwise go OK
   * (notifying so) with its messages still waiting.
   */
  watchDeadLetterQueue(id: string, queue: sqs.IQueue, what: string): cloudwatch.Alarm {
    const period = Duration.minutes(5);
    return this.whenAny(
      `${id}DlqAlarm`,
      `Messages in the dead-letter queue of ${what} (visible, or hidden while being read or redriven)`,
      new cloudwatch.MathExpression({
        expression: 'visible + hidden',
        usingMetrics: {
          visible: queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
          hidden: queue.metricApproximateNumberOfMessagesNotVisible({ period, statistic: 'Maximum' }),
        },
        label: `Messages in the dead-letter queue of ${what}`,
        period,
      }),
      cloudwatch.TreatMissingData.IGNORE,
    );
  }

  /**
   * Requests the bus could deliver neither to the family queue nor to its DLQ (a request near the event
   * size limit, whose delivered event adds an envelope; a broken queue policy): EventBridge drops them,
   * with no result and nothing in any queue. Custom-bus rule metrics carry the bus name too.
   */
  watchUndeliveredRequests(id: string, rule: events.IRule, busName: string): cloudwatch.Alarm {
    // The metric names the rule alone: the last part of its ARN (`...:rule/<bus>/<rule>`), where the
    // rule's Ref would be `<bus>|<rule>`.
    const ruleName = Fn.select(2, Fn.split('/', rule.ruleArn));
    return this.whenAny(
      `${id}UndeliveredAlarm`,
      `Requests matched by ${ruleName} reached neither their queue nor its dead-letter queue: they are lost`,
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'InvocationsFailedToBeSentToDlq',
        dimensionsMap: { EventBusName: busName, RuleName: ruleName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
    );
  }

  /**
   * Asynchronous invocations that failed every attempt and could not be handed to the on-failure
   * destination (the family's DLQ) either: the request is lost, with no result.
   */
  watchDestinationFailures(id: string, fn: TaniumFunction): cloudwatch.Alarm {
    return this.whenAny(
      `${id}DestinationFailuresAlarm`,
      `Failed asynchronous invocations of ${fn.functionName} that could not reach its dead-letter queue: they are lost`,
      fn.metric('DestinationDeliveryFailures', { period: Duration.minutes(5), statistic: 'Sum' }),
    );
  }

  /**
   * A request older than `maxAgeSeconds` (see queueAgeAlarmSeconds) is not being worked on: the event
   * source mapping is disabled or cannot poll (a broken role), or the queue is backed up. Nothing fails
   * and nothing reaches the DLQ then; the messages would expire unseen.
   */
  watchQueueAge(id: string, queue: sqs.IQueue, what: string, maxAgeSeconds: number): cloudwatch.Alarm {
    return this.add(
      new cloudwatch.Alarm(this, `${id}QueueAgeAlarm`, {
        alarmDescription: `A request has waited more than ${maxAgeSeconds} s in ${what}: nothing consumes the queue, or it is backed up`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: maxAgeSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /**
   * Invocations that failed as a whole (a thrown error or timeout, not a partial batch failure), in any
   * of the periods an invocation ending now may have started in (errorsEvaluationPeriods).
   */
  watchFunctionErrors(id: string, fn: TaniumFunction): cloudwatch.Alarm {
    return this.add(
      new cloudwatch.Alarm(this, `${id}ErrorsAlarm`, {
        alarmDescription: `Errors in the ${id} function (whole invocations, not single records)`,
        metric: fn.metricErrors({ period: Duration.minutes(ERRORS_PERIOD_MINUTES), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: errorsEvaluationPeriods(timeoutSeconds(fn)),
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /**
   * A mutating action ran (Tanium changed) but its idempotency record could not be completed: until the
   * in-progress record expires a redelivery is refused, and after it one would call Tanium again. The
   * handlers count it per action (dimensions service and action), so the alarm sums the family's
   * mutating actions.
   */
  watchUnrecordedResults(id: string, service: string, actions: readonly string[]): cloudwatch.Alarm {
    const usingMetrics = Object.fromEntries(
      actions.map((action, index) => [
        `m${index}`,
        new cloudwatch.Metric({
          namespace: this.props.metricsNamespace,
          metricName: UNRECORDED_RESULTS_METRIC,
          dimensionsMap: { service, action },
          period: Duration.minutes(5),
          statistic: 'Sum',
        }),
      ]),
    );
    return this.whenAny(
      `${id}UnrecordedResultsAlarm`,
      `The ${service} function ran an action whose idempotency record it could not complete: a redelivery may call Tanium again (request ids in its log, error level)`,
      new cloudwatch.MathExpression({
        // Each action's count exists only in a period where it went unrecorded: `+` counts a missing
        // value as 0 (CloudWatch says so of its arithmetic operators; it does not of SUM over an array).
        expression: Object.keys(usingMetrics).join(' + '),
        usingMetrics,
        label: `${UNRECORDED_RESULTS_METRIC} (${service})`,
        period: Duration.minutes(5),
      }),
    );
  }

  /**
   * A result went out failed, or without its request's parameter and context, because it could not be
   * stored in the vault or serialised: the caller did not get what the action returned. Repeated, it is a
   * vault that refuses writes (a bucket policy, a key), which nothing else reports.
   */
  watchReplacedResults(id: string, service: string): cloudwatch.Alarm {
    return this.watchFunctionCount(
      id,
      service,
      REPLACED_RESULTS_METRIC,
      `The ${service} function published results in place of the actions' own (not stored in the vault, or not serialisable; request ids in its log, error level)`,
    );
  }

  /**
   * Results that could not be published (PutEvents, or the vault for one too big for an event): the
   * record is redelivered with a backoff and reaches the dead-letter queue after its last attempt, but
   * the queue alarms only then, and the action itself succeeded, so nothing else tells meanwhile.
   */
  watchUnpublishedResults(id: string, service: string): cloudwatch.Alarm {
    return this.watchFunctionCount(
      id,
      service,
      UNPUBLISHED_RESULTS_METRIC,
      `The ${service} function could not publish results (PutEvents refused or failing, or a result too big for an event that the vault could not store yet; request ids in its log, error level)`,
    );
  }

  /** See SERVICE_FAILURES_METRIC. */
  watchServiceFailures(id: string, service: string): cloudwatch.Alarm {
    return this.watchFunctionCount(
      id,
      service,
      SERVICE_FAILURES_METRIC,
      `The ${service} function failed requests for a reason in the deployment: credentials refused, a permission missing, a secret or setting unusable, the vault refusing, or a bus rule delivering the stack's own results or alerts to it (request ids and messages in its log, error level)`,
    );
  }

  /** See UNKNOWN_OUTCOMES_METRIC. */
  watchUnknownOutcomes(id: string, service: string): cloudwatch.Alarm {
    return this.watchFunctionCount(
      id,
      service,
      UNKNOWN_OUTCOMES_METRIC,
      `The ${service} function ended writes that Tanium may or may not have carried out (unknown_outcome: cut off, or refused with 429/502/503/504); check each in Tanium before sending it again (request ids in its log, error level)`,
    );
  }

  /** Any of `metricName` (a family handler's count, dimension service only) in 5 minutes. */
  private watchFunctionCount(
    id: string,
    service: string,
    metricName: string,
    description: string,
  ): cloudwatch.Alarm {
    return this.whenAny(
      `${id}${metricName}Alarm`,
      description,
      new cloudwatch.Metric({
        namespace: this.props.metricsNamespace,
        metricName,
        dimensionsMap: { service },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
    );
  }

  /** One of the poller's own metrics (Powertools EMF, dimensions service and poller), by default over 5 minutes. */
  private pollerMetric(
    metricName: string,
    statistic: 'Maximum' | 'Sum',
    periodMinutes = 5,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.props.metricsNamespace,
      metricName,
      dimensionsMap: { service: POLLER_FUNCTION, poller: POLLER_NAME },
      period: Duration.minutes(periodMinutes),
      statistic,
    });
  }

  /**
   * An alert has waited longer than the threshold to be published: the poller is falling behind. Each
   * period holds at least one run's lag (lagAlarmPeriodMinutes), so a poller still behind stays in alarm.
   */
  watchPollerLag(fn: TaniumFunction, intervalMinutes: number): cloudwatch.Alarm {
    const minutes = lagAlarmPeriodMinutes(intervalMinutes, timeoutSeconds(fn));
    return this.add(
      new cloudwatch.Alarm(this, 'PollerLagAlarm', {
        alarmDescription: `An alert has waited more than ${this.props.alarms.pollerLagSeconds} s to be published (the longest AlertLag over ${minutes} minutes)`,
        metric: this.pollerMetric(POLLER_LAG_METRIC, 'Maximum', minutes),
        threshold: this.props.alarms.pollerLagSeconds * 1000,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // A run that could not tell (Tanium unreachable, lease held elsewhere) sends no lag.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }

  /** An alert was dropped because EventBridge refused even its reduced event: it needs a look by hand. */
  watchRefusedAlerts(): cloudwatch.Alarm {
    return this.onAnyAlert(
      'PollerRefusedAlertsAlarm',
      POLLER_REFUSED_METRIC,
      'The alert poller dropped an alert EventBridge refused; its id is in the poller log (error level)',
    );
  }

  /** Tanium sent an alert without id or guid: the poller cannot publish it exactly once, so it skips it. */
  watchUnidentifiedAlerts(): cloudwatch.Alarm {
    return this.onAnyAlert(
      'PollerUnidentifiedAlertsAlarm',
      POLLER_UNIDENTIFIED_METRIC,
      'The alert poller skipped an alert without id or guid; its createdAt is in the poller log (error level)',
    );
  }

  /**
   * Any alert counted in `metric` (a count the poller writes when above zero, so a missing value is
   * none) is one to look at by hand.
   */
  private onAnyAlert(id: string, metric: string, description: string): cloudwatch.Alarm {
    return this.whenAny(id, description, this.pollerMetric(metric, 'Sum'));
  }

  /**
   * No poll ran for three intervals (ten minutes at least, and two runs' length plus an interval and two
   * minutes: see stoppedAlarmMinutes): the schedule or the function is not working.
   *
   * Every minute of the window must be empty, each filled with 0 when no invocation wrote one: CloudWatch
   * judges an alarm on the most recent datapoints that exist within a range longer than its evaluation
   * periods, missing-data treatment aside, so one period as long as the window stayed OK for several
   * more after the last run (hours at rate(15 minutes)). The treatment still applies when FILL has
   * nothing to fill from: no invocation anywhere in that range.
   */
  watchPollerStopped(fn: TaniumFunction, intervalMinutes: number): cloudwatch.Alarm {
    const minutes = stoppedAlarmMinutes(intervalMinutes, timeoutSeconds(fn));
    return this.add(
      new cloudwatch.Alarm(this, 'PollerStoppedAlarm', {
        alarmDescription: `The alert poller has not run for ${minutes} minutes`,
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(invocations, 0)',
          usingMetrics: {
            invocations: fn.metricInvocations({ period: Duration.minutes(1), statistic: 'Sum' }),
          },
          period: Duration.minutes(1),
          label: 'Poller invocations (0 where none)',
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: minutes,
        datapointsToAlarm: minutes,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    );
  }

  /**
   * Repeated poller failures: `threshold` failed runs among the last threshold + 2, whatever their pace
   * (see failureAlarmWindows). One alone heals on the next run. Three alarms on the function's Errors
   * (one with its Duration) tell the composite alarm, which alone notifies: the spread part alone would
   * judge runs that fail quickly, every interval, over the time a streak of slow ones takes.
   */
  watchPollerFailures(fn: TaniumFunction, intervalMinutes: number): cloudwatch.CompositeAlarm {
    const windows = failureAlarmWindows(
      intervalMinutes,
      timeoutSeconds(fn),
      this.props.alarms.pollerFailureThreshold,
    );
    const period = Duration.minutes(windows.periodMinutes);
    const errors = fn.metricErrors({ period, statistic: 'Sum' });
    const threshold = windows.datapointsToAlarm;
    const minutes = (count: number) => (count === 1 ? '1 minute' : `${count} minutes`);
    const periods = (count: number) =>
      `the last ${count} periods of ${minutes(windows.periodMinutes)}, one per scheduled run (${minutes(count * windows.periodMinutes)})`;
    const part = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      window: { evaluationPeriods: number; datapointsToAlarm: number },
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: `Part of the poller failures alarm, which notifies: ${description}`,
        metric,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ...window,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const runs = part(
      'PollerFailedRunsAlarm',
      `failed alert polls in ${threshold} of ${periods(windows.runsEvaluationPeriods)}`,
      errors,
      { evaluationPeriods: windows.runsEvaluationPeriods, datapointsToAlarm: threshold },
    );
    const spread = part(
      'PollerFailedRunsSpreadAlarm',
      `failed alert polls in ${threshold} of ${periods(windows.slowEvaluationPeriods)}, the time a streak of slow failing runs and one run more take`,
      errors,
      { evaluationPeriods: windows.slowEvaluationPeriods, datapointsToAlarm: threshold },
    );
    const slow = part(
      'PollerSlowFailedRunAlarm',
      `an alert poll that failed after ${windows.slowRunSeconds} s or more in ${periods(windows.slowEvaluationPeriods)}`,
      new cloudwatch.MathExpression({
        // One scheduled time a period: its longest invocation is the run that worked (others skip at once).
        expression: `IF(longest >= ${windows.slowRunSeconds * 1000}, errors, 0)`,
        usingMetrics: { errors, longest: fn.metricDuration({ period, statistic: 'Maximum' }) },
        label: `Poller runs failed after ${windows.slowRunSeconds} s or more`,
        period,
      }),
      { evaluationPeriods: windows.slowEvaluationPeriods, datapointsToAlarm: 1 },
    );
    const inAlarm = (alarm: cloudwatch.IAlarm) =>
      cloudwatch.AlarmRule.fromAlarm(alarm, cloudwatch.AlarmState.ALARM);
    return this.add(
      new cloudwatch.CompositeAlarm(this, 'PollerRepeatedFailuresAlarm', {
        alarmDescription: `Failed alert polls: ${threshold} of the last ${windows.runsEvaluationPeriods} runs, or ${threshold} in the last ${minutes(windows.slowEvaluationPeriods * windows.periodMinutes)} with one that failed after ${windows.slowRunSeconds} s or more (a slow failing run keeps the next scheduled ones from running)`,
        alarmRule: cloudwatch.AlarmRule.anyOf(
          inAlarm(runs),
          cloudwatch.AlarmRule.allOf(inAlarm(spread), inAlarm(slow)),
        ),
      }),
    );
  }

  /**
   * An alarm on any occurrence within its period: each of these is work lost or done wrong. No data is
   * no occurrence, unless `missing` says otherwise.
   */
  private whenAny(
    id: string,
    description: string,
    metric: cloudwatch.IMetric,
    missing = cloudwatch.TreatMissingData.NOT_BREACHING,
  ): cloudwatch.Alarm {
    return this.add(
      new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: missing,
      }),
    );
  }

  private add<A extends cloudwatch.AlarmBase>(alarm: A): A {
    if (this.topic) {
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
      alarm.addOkAction(new actions.SnsAction(this.topic));
    }
    return alarm;
  }
}

const ERRORS_PERIOD_MINUTES = 5;

/** How late Lambda's metrics of an invocation may reach CloudWatch after it ends, at most. */
const LAMBDA_METRIC_LATENESS_SECONDS = 60;

/**
 * The periods a function's Errors alarm judges, one breaching enough: the period an invocation ending
 * now (at its timeout, the error these alarms are mostly for, or its metrics a minute late) started in,
 * and every one since. Lambda stamps an invocation's Errors with its start, and CloudWatch judges the
 * most recent datapoints that exist: with one period only, the zeros that invocations ending since
 * wrote in newer periods hid an evidence run that timed out after 10 minutes.
 */
export function errorsEvaluationPeriods(timeoutSeconds: number): number {
  return Math.ceil((timeoutSeconds + LAMBDA_METRIC_LATENESS_SECONDS) / (ERRORS_PERIOD_MINUTES * 60)) + 1;
}

/** The function's timeout as deployed (Lambda's own default when none is set). */
function timeoutSeconds(fn: TaniumFunction): number {
  return fn.timeout?.toSeconds() ?? 3;
}
