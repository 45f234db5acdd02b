import type { TaniumApi } from '../tanium/client.ts';
import type { ErrorInfo } from '../tanium/errors.ts';
import type { Vault } from '../vault/vault.ts';
import type { VaultReader } from '../vault/vault-reader.ts';
import type { ParamShape, ParamsOf } from './params.ts';

/** The connector's result model (tanium-api.md 1.8), plus a machine-readable error on failures. */
export interface ActionResult {
  status: 'success' | 'failed';
  message: string;
  /** The validated parameters (the raw ones when validation failed). */
  parameter: Record<string, unknown>;
  data: unknown[];
  summary: Record<string, unknown>;
  error?: ErrorInfo;
  /** See TaniumError.requestFault. Not part of the published result. */
  requestFault?: true;
  /** See TaniumError.retryAfterMs; only on a retryable failure. Not part of the published result. */
  retryAfterMs?: number;
}

/** What an action's `run` returns; `execute` adds `parameter` and fills the defaults. */
export interface ActionOutcome {
  status?: 'success' | 'failed';
  message: string;
  data?: unknown[];
  summary?: Record<string, unknown>;
  error?: ErrorInfo;
  requestFault?: true;
  retryAfterMs?: number;
}

export const FAMILIES = ['connections', 'snapshots', 'investigation', 'evidence', 'intel', 'alerts'] as const;
export type Family = (typeof FAMILIES)[number];

/**
 * The S3 vault of `shared/vault/` as an action gets it: the evidence function's stores and reads, the
 * intel function's only reads (upload intel doc), so its bundle holds no store code.
 */
export type VaultPort = Vault | VaultReader;

/** Everything an action may use besides its parameters. */
export interface ActionContext {
  client: TaniumApi;
  /** Epoch ms: no Tanium call may run past this (the invocation deadline minus the publishing margin). */
  deadline: number;
  requestId: string;
  /** The S3 vault (get file, upload intel doc); absent where no bucket is configured. */
  vault?: VaultPort;
  /**
   * GET_FILE_MAX_BYTES, read with the other vault settings by whoever builds the vault (the functions'
   * settings, the CLI's RunVault); absent, get file applies the default, not the environment.
   */
  getFileMaxBytes?: number;
  /** Injected for tests: waiting between polls. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests: the current time. */
  now?: () => number;
}

export interface ActionDefinition<S extends ParamShape = ParamShape> {
  /** The connector's display name, e.g. `get process tree`. */
  name: string;
  /** The connector's identifier, e.g. `get_process_tree`. */
  id: string;
  family: Family;
  /** Read-only actions change nothing; the others are idempotent per requestId. */
  readOnly: boolean;
  /** What the action changes when it is not Tanium: get file only reads Tanium and writes the vault. */
  changesOnly?: 'vault';
  /**
   * Its Tanium call is a DELETE, which an earlier delivery may have carried out without learning so (its
   * answer cut by the deadline, a retryable failure): the 404 of a later delivery is then no proof the
   * target never existed, and the result says so.
   */
  deletes?: true;
  description: string;
  /** The Tanium permission named in a 403 message, where the connector documents one. */
  permission?: string;
  params: S;
  /** Parameters the connector declared but never used (list alerts' `ph`): accepted without a warning. */
  placeholders?: readonly string[];
  /**
   * Rules beyond what each parameter's own type checks (one parameter against another, a document's
   * size): run with the parameters, before the credentials, the idempotency record or Tanium are touched,
   * so a request that can never run is refused at once and the refusal is not stored under its
   * requestId. Throws a ValidationError (or another non-retryable TaniumError, such as too_large).
   */
  check?(params: ParamsOf<S>): void;
  /** Runs with parameters that passed `params` and `check` (validateParams). */
  run(ctx: ActionContext, params: ParamsOf<S>): Promise<ActionOutcome>;
}

/** Keeps the parameter types of one definition while the table holds many. */
export function defineAction<S extends ParamShape>(definition: ActionDefinition<S>): ActionDefinition<S> {
  return definition;
}
