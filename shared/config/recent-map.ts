/**
 * Sets `key` in `map` as its most recently used entry (a Map iterates in insertion order), forgetting
 * the least recently used ones first, so that `map` holds at most `max` entries: the bound of a
 * container-wide cache keyed by values the container meets (credentials, secrets, caller input).
 */
export function setMostRecent<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  for (const oldest of map.keys()) {
    if (map.size < max) break;
    map.delete(oldest);
  }
  map.set(key, value);
}
