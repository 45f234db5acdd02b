import { type ErrorKind, TaniumError, toTaniumError } from '../tanium/errors.ts';
import { likelyNames } from './closest-name.ts';
import { ignoredParamNames, type ParamShape, type ParamsOf, parseParams } from './params.ts';
import type { ActionContext, ActionDefinition, ActionOutcome, ActionResult } from './types.ts';

/** A failed outcome carrying the error's message and kind. */
export function failed(
  error: TaniumError,
  extra: { data?: unknown[]; summary?: Record<string, unknown> } = {},
): ActionOutcome {
  return {
    status: 'failed',
    message: error.message,
    error: error.info,
    ...(error.requestFault ? { requestFault: true } : {}),
    ...(error.retryable && error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    ...extra,
  };
}

/**
 * Runs one action: validates its parameters before any call, runs it, and turns every error into the
 * failed result of the contract. Never throws for a Tanium or validation problem.
 */
export async function executeAction(
  definition: ActionDefinition,
  rawParams: Record<string, unknown>,
  ctx: ActionContext,
): Promise<ActionResult> {
  const parsed = validateParams(definition, rawParams);
  if (!parsed.ok) {
    return {
      status: 'failed',
      message: parsed.message,
      parameter: rawParams,
      data: [],
      summary: {},
      error: { kind: parsed.kind, retryable: false },
    };
  }
  return executeParsed(definition, parsed.value, rawParams, ctx);
}

/**
 * `rawParams` parsed by the action's parameter types, then checked by its own rules (`check`): the
 * values to run with, or the failure's message and kind. Nothing is called.
 */
export function validateParams(
  definition: ActionDefinition,
  rawParams: Record<string, unknown>,
): { ok: true; value: ParamsOf<ParamShape> } | { ok: false; message: string; kind: ErrorKind } {
  const parsed = parseParams(definition.params, rawParams);
  if (!parsed.ok) return { ...parsed, kind: 'validation' };
  try {
    definition.check?.(parsed.value);
  } catch (error) {
    // Anything else is a fault in the check itself, for the caller's own handling.
    if (!(error instanceof TaniumError) || error.retryable) throw error;
    return { ok: false, message: error.message, kind: error.kind };
  }
  return parsed;
}

/** executeAction for parameters already validated (`params`, by validateParams) from `rawParams`. */
export async function executeParsed(
  definition: ActionDefinition,
  params: ParamsOf<ParamShape>,
  rawParams: Record<string, unknown>,
  ctx: ActionContext,
): Promise<ActionResult> {
  let outcome: ActionOutcome;
  try {
    outcome = await definition.run(ctx, params);
  } catch (error) {
    outcome = failed(toTaniumError(error));
  }
  const result: ActionResult = {
    status: outcome.status ?? 'success',
    message: outcome.message,
    // As received (tanium-api.md 1.8), as on a validation failure: what the sender wrote, not our
    // normalised values with defaults filled in.
    parameter: rawParams,
    data: outcome.data ?? [],
    summary: outcome.summary ?? {},
  };
  // Additive: the log's warning is not seen by a playbook, which would take a misspelt optional
  // parameter's default (`wait_second`: no wait) for what it asked.
  const ignored = ignoredParamNames(definition.params, rawParams, definition.placeholders);
  if (ignored.length > 0 && result.status === 'success') {
    const likely = likelyNames(ignored, Object.keys(definition.params));
    result.summary = {
      ...result.summary,
      ignored_parameters: ignored,
      ...(Object.keys(likely).length > 0 ? { likely_parameters: likely } : {}),
    };
  }
  if (outcome.error) result.error = outcome.error;
  if (outcome.requestFault) result.requestFault = true;
  if (outcome.retryAfterMs !== undefined) result.retryAfterMs = outcome.retryAfterMs;
  return result;
}
