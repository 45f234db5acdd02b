import * as z from 'zod/mini';

/**
 * CloudWatch's rules for a metrics namespace, one definition for the stack (the environment's
 * `metricsNamespace`, checked at synthesis) and the functions (POWERTOOLS_METRICS_NAMESPACE, checked when
 * they start): EMF metrics in a namespace CloudWatch refuses are dropped without an error, and every
 * alarm on them stays silent, so the functions must refuse what the stack would.
 */

/** 1 to 255 of the characters CloudWatch allows, the first not a colon. */
const CLOUDWATCH_NAMESPACE = /^[0-9A-Za-z.\-_/# ][0-9A-Za-z.\-_/#: ]{0,254}$/;

/**
 * What is wrong with `namespace` as a metrics namespace, without echoing it, or undefined when CloudWatch
 * takes it. A space at either end is refused as well: the functions trim their variables, so they would
 * write under another namespace than the alarms watch.
 */
export function metricsNamespaceProblem(namespace: string): string | undefined {
  if (!CLOUDWATCH_NAMESPACE.test(namespace) || namespace.trim() !== namespace) {
    return "must be 1 to 255 of the characters CloudWatch allows (letters, digits, space, . - _ / # :), with no space at either end, not starting with ':'";
  }
  if (namespace.startsWith('AWS/')) return 'must not start with AWS/ (reserved for AWS)';
  return undefined;
}

/** POWERTOOLS_METRICS_NAMESPACE as the functions read it (blank is unset, see readEnvironment). */
export const envMetricsNamespace = z.optional(
  z.string().check(
    z.refine((namespace) => metricsNamespaceProblem(namespace) === undefined, {
      error: (issue) => metricsNamespaceProblem(String(issue.input)) ?? 'is not a CloudWatch namespace',
    }),
  ),
);
