import { DEFAULT_FUNCTIONS } from '../../infra/function-defaults.ts';
import { FAMILIES, type Family } from '../../shared/actions/types.ts';
import { createFamilyHandler, type FamilyHandler } from '../../shared/events/family-handler.ts';
import type { EventLogger } from '../../shared/events/logging.ts';
import type { ActionMetrics } from '../../shared/events/metrics.ts';
import { createFamilyHandler as createVaultFamilyHandler } from '../../shared/events/vault-family-handler.ts';
import { createFamilyHandler as createVaultReaderFamilyHandler } from '../../shared/events/vault-reader-family-handler.ts';
import { LOCAL_MAX_RECEIVE_COUNT, type LocalResources } from './aws-resources.ts';

/** The handler factory of each family's Lambda entry point (functions/<family>/index.ts). */
const FACTORIES: Readonly<Record<Family, typeof createFamilyHandler>> = {
  connections: createFamilyHandler,
  snapshots: createFamilyHandler,
  investigation: createFamilyHandler,
  evidence: createVaultFamilyHandler,
  intel: createVaultReaderFamilyHandler,
  alerts: createFamilyHandler,
};

/** The function configuration the stack would set (design.md §3). */
export function functionEnv(resources: LocalResources, family: Family): Record<string, string> {
  return {
    TANIUM_SECRET_ID: resources.names.secret,
    EVENT_BUS_NAME: resources.names.bus,
    VAULT_BUCKET: resources.names.bucket,
    STATE_TABLE: resources.names.table,
    MAX_RECEIVE_COUNT: String(LOCAL_MAX_RECEIVE_COUNT),
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(resources.visibilityTimeoutSeconds),
    QUEUE_URL: resources.queues[family].url,
    // With what Lambda sets, they bound the Tanium answer a request reads, as deployed.
    QUEUE_BATCH_SIZE: String(DEFAULT_FUNCTIONS[family].batchSize),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(DEFAULT_FUNCTIONS[family].memoryMiB),
    POWERTOOLS_SERVICE_NAME: family,
  };
}

/** One handler per family, built as each family's Lambda entry point builds it. */
export function createLocalHandlers(
  resources: LocalResources,
  logger: EventLogger,
  metrics: ActionMetrics,
): Record<Family, FamilyHandler> {
  const handlers = {} as Record<Family, FamilyHandler>;
  for (const family of FAMILIES) {
    handlers[family] = FACTORIES[family](family, { env: functionEnv(resources, family), logger, metrics });
  }
  return handlers;
}
