// Placeholder until the event plumbing lands (issue 4): the factory every family entry point uses.
export type Family = 'connections' | 'snapshots' | 'investigation' | 'evidence' | 'intel' | 'alerts';

export function createFamilyHandler(family: Family) {
  return async (_event: unknown): Promise<never> => {
    throw new Error(`The ${family} handler is not implemented yet`);
  };
}
