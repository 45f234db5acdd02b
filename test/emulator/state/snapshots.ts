import { iso } from '../util.ts';

export interface Snapshot {
  uuid: string;
  name: string;
  evidenceType: 'snapshot';
  hostname: string;
  connectionId: string;
  username: string;
  created: string;
  completed: string;
  size: number;
  isUpload: boolean;
  recorderVersion: number;
}

export function makeSnapshot(input: {
  uuid: string;
  hostname: string;
  connectionId: string;
  startedAt: number;
  completedAt: number;
  size: number;
}): Snapshot {
  return {
    uuid: input.uuid,
    name: `${input.hostname}-${input.startedAt}.db`,
    evidenceType: 'snapshot',
    hostname: input.hostname,
    connectionId: input.connectionId,
    username: 'administrator',
    created: String(input.startedAt),
    completed: iso(input.completedAt),
    size: input.size,
    isUpload: false,
    recorderVersion: 2,
  };
}

export function seedSnapshots(): Snapshot[] {
  return [
    makeSnapshot({
      uuid: '59998498-1248-4a5a-a97e-e905c9279999',
      hostname: 'test-client-1',
      connectionId: 'remote:test-client-1:2029399999:1',
      startedAt: 1642209934002,
      completedAt: 1642209999424,
      size: 992157999,
    }),
    makeSnapshot({
      uuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      hostname: 'web-02',
      connectionId: 'remote:web-02:3380012345:2',
      startedAt: 1642300000000,
      completedAt: 1642300042000,
      size: 104857600,
    }),
    makeSnapshot({
      uuid: 'f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9',
      hostname: 'db-01',
      connectionId: 'remote:db-01:6660000001:5',
      startedAt: 1642400000000,
      completedAt: 1642400061000,
      size: 52428800,
    }),
  ];
}
