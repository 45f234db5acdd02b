import { createFamilyHandler } from '../../shared/events/family-handler.ts';

export const handler = createFamilyHandler('alerts');
