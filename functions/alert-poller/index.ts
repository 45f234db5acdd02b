import { createPollerHandler } from '../../shared/alerts/poller-handler.ts';

export const handler = createPollerHandler();
