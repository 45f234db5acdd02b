import { createFamilyHandler } from '../../shared/events/vault-reader-family-handler.ts';

export const handler = createFamilyHandler('intel');
