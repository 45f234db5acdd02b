import type { Family } from '../../shared/actions/types.ts';
import type { ResultDetail } from '../../shared/events/result.ts';
import { plain } from '../format.ts';

/** One step of the investigation; `parameters` may use what earlier steps returned. */
export interface InvestigationStep {
  family: Family;
  action: string;
  parameters: (state: { connectionId: string }) => Record<string, unknown>;
}

/** The typical investigation of the product documentation, step by step. */
export const INVESTIGATION: readonly InvestigationStep[] = [
  {
    family: 'connections',
    action: 'create connection',
    parameters: () => ({ destination: 'test-client-1', destination_type: 'hostname', wait_seconds: 30 }),
  },
  { family: 'connections', action: 'list connections', parameters: () => ({}) },
  {
    family: 'investigation',
    action: 'get process tree',
    parameters: ({ connectionId }) => ({
      connection_id: connectionId,
      process_table_id: '72057594038528503',
    }),
  },
  {
    family: 'investigation',
    action: 'get events',
    parameters: ({ connectionId }) => ({ connection_id: connectionId, event_type: 'process', limit: 10 }),
  },
  {
    family: 'evidence',
    action: 'save file',
    parameters: ({ connectionId }) => ({
      connection_id: connectionId,
      file_path: 'C:\\Users\\bob\\Downloads\\evil.exe',
    }),
  },
  { family: 'evidence', action: 'list files', parameters: () => ({}) },
  {
    family: 'connections',
    action: 'close connection',
    parameters: ({ connectionId }) => ({ connection_id: connectionId }),
  },
];

/** The lines printed under a step for its result. */
export function describeResult(detail: ResultDetail): string[] {
  const lines = [`      ${detail.status}: ${plain(detail.message)} (${detail.durationMs} ms)`];
  if (detail.summary && Object.keys(detail.summary).length > 0) {
    lines.push(`      summary: ${plain(JSON.stringify(detail.summary))}`);
  }
  if (detail.dataRef) lines.push(`      data: stored at s3://${detail.dataRef.bucket}/${detail.dataRef.key}`);
  else lines.push(`      data: ${detail.data?.length ?? 0} item(s)`);
  return lines;
}
