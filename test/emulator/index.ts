/**
 * Tanium Threat Response emulator: a stateful HTTP(S) server on loopback that answers like Tanium
 * (tanium-api.md sections 3 and 4). See README.md.
 */
export { DEFAULT_START_TIME } from './clock.ts';
export { digestCredential } from './request-log.ts';
export { startEmulator } from './server.ts';
export type { Alert, AlertInput } from './state/alerts.ts';
export { FULL_PERSONA, PERMISSIONS } from './state/auth.ts';
export { generatedChunks } from './state/files.ts';
export { DEFAULT_CONFIG, EmulatorState } from './state/index.ts';
export { BUSY_CHILDREN, BUSY_SIBLINGS, MAX_CHILDREN, MAX_SIBLINGS, SEEDED_PTIDS } from './state/processes.ts';
export { DEFAULT_SWITCHES } from './switches.ts';
export type {
  Clock,
  ClockMode,
  Emulator,
  EmulatorConfig,
  EmulatorCredentials,
  EmulatorOptions,
  EventType,
  FaultBodyShape,
  FaultSpec,
  Faults,
  RequestFilter,
  RequestLogEntry,
  Switches,
} from './types.ts';
export { EVENT_TYPES } from './types.ts';

/** Ids of the seeded data tests can rely on. */
export const SEEDED = {
  connectedConnectionId: 'remote:test-client-1:2029399999:1',
  waitingConnectionId: 'remote:web-02:3380012345:2',
  unreachableConnectionId: 'remote:offline-01:4000000001:3',
  disconnectedConnectionId: 'remote:dup-host:1111111111:4',
  fileEvidenceUuid: '79478f3e-061b-4b59-a99a-349415df99a0',
  snapshotUuid: '59998498-1248-4a5a-a97e-e905c9279999',
  intelDocId: 11,
  groupId: 34,
  groupName: 'All Windows',
  numericNamedGroup: { id: 57, name: '1234' },
} as const;
