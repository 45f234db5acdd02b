import { alertActions } from './alerts.ts';
import { closestName } from './closest-name.ts';
import { connectionActions } from './connections.ts';
import { evidenceActions } from './evidence.ts';
import { intelActions } from './intel.ts';
import { investigationActions } from './investigation.ts';
import { snapshotActions } from './snapshots.ts';
import type { ActionDefinition, Family } from './types.ts';

/**
 * The one table of actions. The family handlers, the CLI, the docs generator and the tests all iterate
 * it; adding an action is adding an entry here (and its test).
 */
export const ACTIONS: readonly ActionDefinition[] = [
  ...connectionActions,
  ...snapshotActions,
  ...investigationActions,
  ...evidenceActions,
  ...intelActions,
  ...alertActions,
] as unknown as readonly ActionDefinition[];

const byKey = new Map<string, ActionDefinition>();
for (const action of ACTIONS) {
  byKey.set(action.name, action);
  byKey.set(action.id, action);
}

/** The family whose function answers the requests no family's bus rule takes (the stack routes them to its queue). */
export const UNROUTED_FAMILY: Family = 'connections';

/**
 * The family whose bus rule takes `value` as the `action`: exactly a display name or an identifier, in
 * any case (the rules' `equals-ignore-case`), where findAction also trims and mixes the spellings.
 * Only A-Z fold: JavaScript's toLowerCase also folds the Kelvin sign to `k`, which the bus does not.
 */
export function ruleFamilyOf(value: string): Family | undefined {
  return byKey.get(value.replace(/[A-Z]/g, (letter) => letter.toLowerCase()))?.family;
}

/** Resolves a display name (`get process tree`) or an identifier (`get_process_tree`), case-insensitively. */
export function findAction(nameOrId: string): ActionDefinition | undefined {
  const key = nameOrId.trim().toLowerCase();
  return byKey.get(key) ?? byKey.get(key.replace(/\s+/g, '_')) ?? byKey.get(key.replace(/_/g, ' '));
}

/** The action an unknown name most likely meant, when it looks like a typo of one (see closestName). */
export function likelyAction(nameOrId: string): string | undefined {
  return closestName(
    nameOrId,
    ACTIONS.map((action) => action.name),
  );
}

export function actionsOf(family: Family): ActionDefinition[] {
  return ACTIONS.filter((action) => action.family === family);
}
