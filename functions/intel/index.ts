import { createFamilyHandler } from '../../shared/events/vault-family-handler.ts';

export const handler = createFamilyHandler('intel');
