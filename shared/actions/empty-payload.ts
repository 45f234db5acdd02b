/**
 * True for the answers the connector treated as empty (Python's falsy `not response`): no body, `""`,
 * `[]` or `{}`. Tanium's wrapped form unwraps to the same values, so `{"data":{}}` is empty too.
 */
export function isEmptyPayload(payload: unknown): boolean {
  if (payload === null || payload === undefined || payload === '') return true;
  if (Array.isArray(payload)) return payload.length === 0;
  return typeof payload === 'object' && Object.keys(payload).length === 0;
}
