import { describe, expect, it } from 'vitest';
import { SEEDED } from './index.ts';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

type Accepted = { status: string; taskInfo: { id: number; status: string } };
type Task = {
  data: { status: string; error: string | null; results: { fileResults?: { finalPath: string }[] } | null };
};
const CONN = `${TR_PATH}/conns/${SEEDED.connectedConnectionId}`;

describe('Emulator: snapshot and file tasks', () => {
  const tanium = useEmulator({ tls: false });

  const task = async (id: number) => (await tanium.client.get(`${TR_PATH}/tasks/${id}`)).json as Task;
  // Bodiless, with the JSON type the contract gives this POST (tanium-api.md 1.3).
  const snapshot = () =>
    tanium.client.call('POST', `${CONN}/snapshot`, { headers: { 'content-type': 'application/json' } });

  it('accepts a snapshot at once and lists it only when its task completes', async () => {
    // Prepare
    const before = (await tanium.client.get(`${TR_PATH}/snapshot?limit=100`)).json as { totalCount: number };

    // Act
    const accepted = (await snapshot()).json as Accepted;
    const started = await task(accepted.taskInfo.id);
    const during = (await tanium.client.get(`${TR_PATH}/snapshot?limit=100`)).json as { totalCount: number };
    tanium.emulator.clock.advance(1000);
    const completed = await task(accepted.taskInfo.id);
    const after = (await tanium.client.get(`${TR_PATH}/snapshot?limit=100&sort=-created`)).json as {
      totalCount: number;
      snapshots: { name: string; connectionId: string }[];
    };

    // Assess
    expect(accepted.status).toBe('ACCEPTED');
    expect(accepted.taskInfo.status).toBe('STARTED');
    expect(started.data.status).toBe('STARTED');
    expect(during.totalCount).toBe(before.totalCount);
    expect(completed.data.status).toBe('COMPLETED');
    expect(after.totalCount).toBe(before.totalCount + 1);
    expect(after.snapshots[0]?.name).toMatch(/^test-client-1-\d+\.db$/);
  });

  it('adds file evidence named by the task result when a file task completes', async () => {
    // Act
    const accepted = (
      await tanium.client.call('POST', `${CONN}/file`, { json: { path: 'C:\\Users\\bob\\x.dll' } })
    ).json as Accepted;
    tanium.emulator.completeTasks();
    const done = await task(accepted.taskInfo.id);
    const list = (await tanium.client.get(`${TR_PATH}/filedownload?limit=100`)).json as {
      fileEvidence: { uuid: string; path: string }[];
    };

    // Assess
    const uuid = /([0-9a-f-]{36})\.zip$/.exec(done.data.results?.fileResults?.[0]?.finalPath ?? '')?.[1];
    expect(done.data.status).toBe('COMPLETED');
    expect(list.fileEvidence.find((item) => item.uuid === uuid)?.path).toBe('C:\\Users\\bob\\x.dll');
  });

  it('fails the task for a path absent on the endpoint, on failTask and under the switch', async () => {
    // Act
    const absent = (
      await tanium.client.call('POST', `${CONN}/file`, { json: { path: 'C:\\missing\\nothing.exe' } })
    ).json as Accepted;
    const manual = (await snapshot()).json as Accepted;
    tanium.emulator.failTask(manual.taskInfo.id, 'disk full');
    tanium.emulator.switches.taskFailure = 'recorder unavailable';
    const switched = (await snapshot()).json as Accepted;
    tanium.emulator.clock.advance(1000);

    // Assess
    expect((await task(absent.taskInfo.id)).data).toMatchObject({
      status: 'FAILED',
      error: 'File not found: C:\\missing\\nothing.exe',
    });
    expect((await task(manual.taskInfo.id)).data).toMatchObject({ status: 'FAILED', error: 'disk full' });
    expect((await task(switched.taskInfo.id)).data).toMatchObject({
      status: 'FAILED',
      error: 'recorder unavailable',
    });
  });

  it('answers 404 for an unknown task and deletes snapshots by id', async () => {
    // Act
    const unknown = await tanium.client.get(`${TR_PATH}/tasks/99999`);
    const deleted = await tanium.client.call('DELETE', `${TR_PATH}/snapshot`, {
      json: { ids: [SEEDED.snapshotUuid] },
    });
    const list = (await tanium.client.get(`${TR_PATH}/snapshot?limit=100`)).json as {
      snapshots: { uuid: string }[];
    };

    // Assess
    expect(unknown.status).toBe(404);
    expect(deleted.status).toBe(204);
    expect(list.snapshots.map((snapshot) => snapshot.uuid)).not.toContain(SEEDED.snapshotUuid);
  });
});
