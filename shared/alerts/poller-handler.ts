// Placeholder until the alert poller lands (issue 6).
export function createPollerHandler() {
  return async (_event: unknown): Promise<never> => {
    throw new Error('The alert poller is not implemented yet');
  };
}
