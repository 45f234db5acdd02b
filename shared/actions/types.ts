import type { ErrorInfo } from '../tanium/errors.ts';

/** The connector's result model (tanium-api.md 1.8), plus a machine-readable error on failures. */
export interface ActionResult {
  status: 'success' | 'failed';
  message: string;
  parameter: Record<string, unknown>;
  data: unknown[];
  summary: Record<string, unknown>;
  error?: ErrorInfo;
}
