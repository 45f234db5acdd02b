import { describe, expect, it } from 'vitest';
import { listAlerts } from '../../../shared/actions/alerts.ts';
import { executeAction } from '../../../shared/actions/execute.ts';
import { MAX_URL_VALUE_CHARS } from '../../../shared/actions/params.ts';
import type { TaniumApi, TaniumRequest } from '../../../shared/tanium/client.ts';

/** Runs list alerts with `query` against a client that answers an empty page; the queries it sent. */
async function listWith(query: string) {
  const sent: string[] = [];
  const client = {
    request: async (request: TaniumRequest) => {
      sent.push(request.query?.toString() ?? '');
      return { status: 200, payload: [], headers: {}, auth: 'token' };
    },
    credentials: { baseUrl: 'https://tanium.example.test' },
  } as unknown as TaniumApi;
  const result = await executeAction(
    listAlerts,
    { query },
    { client, deadline: Date.now() + 60_000, requestId: 'r' },
  );
  return { result, sent };
}

describe('list alerts: the length of its query', () => {
  it('measures the query as it is sent, parsed and encoded again, not as written', async () => {
    // Arrange: 3,400 characters written; each `&` and `=` would count three if encoded whole
    const query = 'state=unresolved&'.repeat(200);

    // Act
    const { result, sent } = await listWith(query);

    // Assess
    expect(result.status).toBe('success');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.length).toBeLessThan(MAX_URL_VALUE_CHARS);
  });

  it('refuses by name, before any call, a query that would take more than its share of the URL', async () => {
    // Arrange: each `(` is sent as %28
    const query = `priority=${'('.repeat(1400)}`;

    // Act
    const { result, sent } = await listWith(query);

    // Assess
    expect(result).toMatchObject({ status: 'failed', error: { kind: 'validation', retryable: false } });
    expect(result.message).toBe(
      "Please provide a shorter value in the 'query' parameter: it is 4,209 characters long once URL-encoded, over the 4,000 one parameter may take of a Tanium request URL",
    );
    expect(sent).toHaveLength(0);
  });

  it('cuts the part it cannot parse to 200 characters when it echoes it', async () => {
    // Prepare: one part of 150,000 characters with no `=`
    const query = 'x'.repeat(150_000);

    // Act
    const { result, sent } = await listWith(query);

    // Assess
    expect(result).toMatchObject({ status: 'failed', error: { kind: 'validation' } });
    expect(result.message).toBe(
      `Unable to parse provided query: every part must be key=value (got '${'x'.repeat(200)}…')`,
    );
    expect(sent).toHaveLength(0);
  });
});

describe('list alerts: white space in its query', () => {
  it.each([
    [' state=unresolved', "' state=unresolved'"],
    ['state=unresolved & priority=high', "'state=unresolved '"],
    ['state=unresolved\n', "'state=unresolved\n'"],
    ['state=unresolved+', "'state=unresolved '"],
  ])('refuses %j before any call, since Tanium would drop or miss the filter', async (query, part) => {
    // Act
    const { result, sent } = await listWith(query);

    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toBe(
      `Unable to parse provided query: ${part} has white space around its key or value`,
    );
    expect(result.error).toEqual({ kind: 'validation', retryable: false });
    expect(sent).toEqual([]);
  });

  it('keeps white space inside a value', async () => {
    // Act
    const { result, sent } = await listWith('hostname=my%20host');

    // Assess
    expect(result.status).toBe('success');
    expect(sent).toEqual(['limit=100&hostname=my+host']);
  });
});
