/**
 * `JSON.stringify(value)`, or `fallback` when it cannot be written: JSON.parse reads a value nested
 * thousands deep that JSON.stringify then overflows the stack on, and data from Tanium can be that. As
 * JSON.stringify, it gives undefined for undefined (and functions), which its type does not show: pass
 * a value that JSON can hold.
 */
export function jsonOr<T>(value: unknown, fallback: T): string | T {
  try {
    return JSON.stringify(value);
  } catch {
    return fallback;
  }
}
