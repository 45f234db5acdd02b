/** A JSON object (not an array, not null): what a parsed body, secret or setting group must be. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
