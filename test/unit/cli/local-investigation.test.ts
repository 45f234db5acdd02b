import { describe, expect, it } from 'vitest';
import { describeResult, INVESTIGATION } from '../../../cli/local/investigation.ts';
import type { ResultDetail } from '../../../shared/events/result.ts';

function detail(fields: Partial<ResultDetail> = {}): ResultDetail {
  return {
    requestId: 'r-1',
    action: 'list connections',
    status: 'success',
    message: 'Listed 2 connections',
    parameter: {},
    data: [{}, {}],
    context: {},
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 12,
    ...fields,
  };
}

describe('the local investigation', () => {
  it("follows the product documentation's typical investigation, closing the connection it opened", () => {
    expect(INVESTIGATION.map((step) => `${step.family}: ${step.action}`)).toEqual([
      'connections: create connection',
      'connections: list connections',
      'investigation: get process tree',
      'investigation: get events',
      'evidence: save file',
      'evidence: list files',
      'connections: close connection',
    ]);
  });

  it('gives each step the connection the first step created', () => {
    const state = { connectionId: 'conn-1' };

    expect(INVESTIGATION.map((step) => step.parameters(state))).toEqual([
      { destination: 'test-client-1', destination_type: 'hostname', wait_seconds: 30 },
      {},
      { connection_id: 'conn-1', process_table_id: '72057594038528503' },
      { connection_id: 'conn-1', event_type: 'process', limit: 10 },
      { connection_id: 'conn-1', file_path: 'C:\\Users\\bob\\Downloads\\evil.exe' },
      {},
      { connection_id: 'conn-1' },
    ]);
  });
});

describe('describeResult', () => {
  it('says the status, message, duration and how many data items came back', () => {
    expect(describeResult(detail())).toEqual([
      '      success: Listed 2 connections (12 ms)',
      '      data: 2 item(s)',
    ]);
  });

  it('shows a summary that has something in it', () => {
    expect(describeResult(detail({ status: 'failed', summary: { total: 2 } }))).toEqual([
      '      failed: Listed 2 connections (12 ms)',
      '      summary: {"total":2}',
      '      data: 2 item(s)',
    ]);
    expect(describeResult(detail({ summary: {} }))).toHaveLength(2);
  });

  it('says where a result stored whole went instead of counting its data', () => {
    const lines = describeResult(
      detail({
        data: undefined,
        dataRef: { bucket: 'vault', key: 'results/r-1.json' } as ResultDetail['dataRef'],
      }),
    );

    expect(lines).toEqual([
      '      success: Listed 2 connections (12 ms)',
      '      data: stored at s3://vault/results/r-1.json',
    ]);
  });

  it('counts no data items when a result has none', () => {
    expect(describeResult(detail({ data: undefined }))[1]).toBe('      data: 0 item(s)');
  });
});
