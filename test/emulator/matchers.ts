/** Path matching shared by faults and request-log filters: exact, `prefix*`, or a RegExp. */
export function pathMatches(pattern: string | RegExp | undefined, path: string): boolean {
  if (pattern === undefined) return true;
  if (pattern instanceof RegExp) return pattern.test(path);
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  return path === pattern;
}

export function methodMatches(pattern: string | undefined, method: string): boolean {
  return pattern === undefined || pattern.toUpperCase() === method.toUpperCase();
}
