import { describe, expect, it } from 'vitest';
import { resultDetail } from '../../../shared/events/result.ts';

const REQUEST = { requestId: 'req-1', action: 'list connections' };
const TIMING = { startedAt: Date.UTC(2026, 0, 2, 3, 4, 5), durationMs: 12.4 };

describe('Result detail', () => {
  it('has no error key at all for a result without an error', () => {
    // Act
    const detail = resultDetail(
      REQUEST,
      { status: 'success', message: 'Listed 0 connections', parameter: {}, data: [], summary: {} },
      TIMING,
    );

    // Assess: exactly these keys, none present but undefined
    expect(detail).toStrictEqual({
      requestId: 'req-1',
      action: 'list connections',
      status: 'success',
      message: 'Listed 0 connections',
      parameter: {},
      data: [],
      summary: {},
      context: {},
      startedAt: '2026-01-02T03:04:05.000Z',
      durationMs: 12,
    });
  });
});
