import { actionsOf } from '../shared/actions/table.ts';
import { FAMILIES as ACTION_FAMILIES, type Family } from '../shared/actions/types.ts';
import { ALERT_DETAIL_TYPE, ALERT_SOURCE } from '../shared/alerts/alert-event.ts';
import { REQUEST_DETAIL_TYPE } from '../shared/events/envelope.ts';
import { RESULT_DETAIL_TYPE, RESULT_SOURCE } from '../shared/events/result.ts';

export type { Family };

/**
 * Which actions each family's queue receives from the bus, derived from the action table so a rule
 * can never miss an action the functions handle.
 */
export const FAMILY_ACTIONS = Object.fromEntries(
  ACTION_FAMILIES.map((family) => [family, actionsOf(family).map((a) => a.name)]),
) as unknown as Record<Family, readonly string[]>;

/**
 * The scheduled alert poller's function name, which is also its `POWERTOOLS_SERVICE_NAME`: the `service`
 * dimension of the poller's metrics that its alarms watch.
 */
export const POLLER_FUNCTION = 'alert-poller';

/** Every function the app deploys: one per family plus the scheduled alert poller. */
export type FunctionName = Family | typeof POLLER_FUNCTION;

export const FAMILIES: readonly Family[] = ACTION_FAMILIES;

export const FUNCTION_NAMES: readonly FunctionName[] = [...FAMILIES, POLLER_FUNCTION];

/**
 * Both spellings a request may use for the family's actions (design.md §3), display names first: the
 * table's own identifiers, the ones the functions resolve, so the rules cannot drift from them.
 */
export function familyActionNames(family: Family): string[] {
  const actions = actionsOf(family);
  return [...actions.map((a) => a.name), ...actions.map((a) => a.id)];
}

/** The family's actions that change state in Tanium and therefore keep idempotency records (design.md §4). */
export function mutatingActionNames(family: Family): string[] {
  return actionsOf(family)
    .filter((a) => !a.readOnly)
    .map((a) => a.name);
}

/** Families with at least one mutating action. */
export const MUTATING_FAMILIES: readonly Family[] = ACTION_FAMILIES.filter(
  (family) => mutatingActionNames(family).length > 0,
);

/** The events the functions publish (design.md §3), as the code publishes them: all they may publish. */
export const PUBLISHED_EVENTS = {
  result: { source: RESULT_SOURCE, detailType: RESULT_DETAIL_TYPE },
  alert: { source: ALERT_SOURCE, detailType: ALERT_DETAIL_TYPE },
} as const;

const DETAIL_TYPES = {
  request: REQUEST_DETAIL_TYPE,
  result: RESULT_DETAIL_TYPE,
  alert: ALERT_DETAIL_TYPE,
} as const;

/** An `Action Request` rule's pattern, in CDK's `EventPattern` shape (`detailType`) with plain matchers. */
export interface RequestPattern {
  source?: string[];
  detailType: string[];
  detail: { action: Array<Record<string, unknown>> };
}

function requestPattern(sources: readonly string[], action: Array<Record<string, unknown>>): RequestPattern {
  return {
    ...(sources.length > 0 ? { source: [...sources] } : {}),
    detailType: [DETAIL_TYPES.request],
    detail: { action },
  };
}

/**
 * The requests a family's queue receives: either spelling of its actions, in any case, as the
 * functions themselves accept them (`Get Process Tree` is routed, not dropped by the bus).
 */
export function familyRequestPattern(family: Family, sources: readonly string[]): RequestPattern {
  return requestPattern(
    sources,
    familyActionNames(family).map((name) => ({ 'equals-ignore-case': name })),
  );
}

/**
 * The requests no family rule takes: an unknown action, or none. EventBridge drops an event no rule
 * matches, so without this rule such a request would end in nothing at all instead of a failed result.
 */
export function unroutedRequestPattern(sources: readonly string[]): RequestPattern {
  const everyName = FAMILIES.flatMap((family) => familyActionNames(family));
  return requestPattern(sources, [
    { exists: false },
    { 'anything-but': { 'equals-ignore-case': everyName } },
  ]);
}
