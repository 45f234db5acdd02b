import { describe, expect, it } from 'vitest';
import { TR_PATH } from './test-client.ts';
import { useEmulator } from './use-emulator.ts';

type Doc = {
  data: { id: number; revisionId: number; type: string; md5: string; size: number; contents?: string };
};

describe('Emulator: intel documents, computer groups and on-demand scans', () => {
  const tanium = useEmulator({ tls: false });

  const upload = (disposition: string | undefined, body: string) =>
    tanium.client.call('POST', `${TR_PATH}/intels`, {
      headers: {
        'content-type': 'application/octet-stream',
        ...(disposition ? { 'content-disposition': disposition } : {}),
      },
      body,
    });

  it('creates a document from the filename* name and revises it on a second upload', async () => {
    // Prepare
    const rule = 'rule ExampleRule { strings: $a = "text here" condition: $a }';

    // Act
    const first = (await upload(`attachment; filename="r_le.yara"; filename*=UTF-8''r%C3%BCle.yara`, rule))
      .json as Doc;
    const second = (await upload('attachment; filename=rüle.yara', `${rule}\n`)).json as Doc;

    // Assess
    expect(first.data).toMatchObject({
      id: 527,
      revisionId: 1,
      type: 'yara',
      size: Buffer.byteLength(rule),
      contents: rule,
    });
    expect(second.data).toMatchObject({ id: 527, revisionId: 2 });
    expect(second.data.md5).not.toBe(first.data.md5);
  });

  it('answers 400 without a name, for an empty body and for an unknown extension', async () => {
    // Act
    const noName = await upload(undefined, 'x');
    const emptyBody = await upload('attachment; filename="a.ioc"', '');
    const unknownType = await upload('attachment; filename="a.txt"', 'x');

    // Assess
    expect(noName.json).toEqual({ text: 'Missing file name' });
    expect(emptyBody.status).toBe(400);
    expect(unknownType.json).toEqual({ text: 'Unable to determine intel type from file name' });
  });

  it('finds groups by id (management rights only) and by exact decoded name', async () => {
    // Act
    const byId = await tanium.client.get('/api/v2/management_rights_groups/34');
    const noRights = await tanium.client.get('/api/v2/management_rights_groups/99');
    const digits = await tanium.client.get('/api/v2/management_rights_groups/1234');
    const digitName = await tanium.client.get('/api/v2/groups/by-name/1234');
    const special = await tanium.client.get(`/api/v2/groups/by-name/${encodeURIComponent('Who? Me')}`);
    const hash = await tanium.client.get(`/api/v2/groups/by-name/${encodeURIComponent('Team #1')}`);
    const missing = await tanium.client.get('/api/v2/groups/by-name/All%20Windowz');

    // Assess
    expect(byId.json).toMatchObject({ data: { id: 34, name: 'All Windows' } });
    expect(noRights.status).toBe(404);
    expect(digits.status).toBe(404);
    expect(digitName.json).toMatchObject({ data: { id: 57 } });
    expect(special.json).toMatchObject({ data: { id: 59 } });
    expect(hash.json).toMatchObject({ data: { id: 60 } });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ text: "GroupNotFound: no group named 'All Windowz'" });
  });

  it('answers 200 with empty data for an unknown name under the switch', async () => {
    // Prepare
    tanium.emulator.switches.groupsByNameEmptyData = true;

    // Act
    const response = await tanium.client.get('/api/v2/groups/by-name/nobody');

    // Assess
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ data: {} });
  });

  it('records scans and rejects unknown ids with 404 and non-numbers with 400', async () => {
    // Act
    const started = await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, {
      json: { intelDocId: 11, computerGroupId: 34 },
    });
    const unknownDoc = await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, {
      json: { intelDocId: 9999, computerGroupId: 34 },
    });
    const unknownGroup = await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, {
      json: { intelDocId: 11, computerGroupId: 4242 },
    });
    const notNumber = await tanium.client.call('POST', `${TR_PATH}/on-demand-scans`, {
      json: { intelDocId: '11', computerGroupId: 34 },
    });

    // Assess
    expect(started.json).toMatchObject({ data: { id: 1000509, intelDocId: 11, computerGroupId: 34 } });
    expect(unknownDoc.status).toBe(404);
    expect(unknownDoc.json).toEqual({ message: 'Intel doc 9999 not found' });
    expect(unknownGroup.status).toBe(404);
    expect(notNumber.status).toBe(400);
    expect(tanium.emulator.state.scans.scans).toHaveLength(1);
  });
});
