/** Small helpers shared by the state stores. */

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Tanium's zoneless `YYYY-MM-DD HH:mm:ss.SSS`, written in UTC. */
export function zoneless(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** Deterministic PRNG so seeded data is identical on every start. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Deterministic UUID v4-shaped string from a PRNG. */
export function uuidFrom(random: () => number): string {
  const word = () =>
    Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  const hex = word() + word() + word() + word();
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Compares values the way a database would: numbers numerically, digit strings as big integers. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') {
    if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) {
      const x = BigInt(a);
      const y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Parses `a,-b` into sort keys; a stable sort applies them left to right. */
export function parseSort(sort: string | null): { field: string; desc: boolean }[] {
  if (!sort) return [];
  return sort
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) =>
      part.startsWith('-') ? { field: part.slice(1), desc: true } : { field: part, desc: false },
    );
}

export function sortRows<T extends object>(
  rows: readonly T[],
  sort: { field: string; desc: boolean }[],
): T[] {
  const copy = [...rows];
  if (sort.length === 0) return copy;
  copy.sort((x, y) => {
    for (const { field, desc } of sort) {
      const order = compareValues(
        (x as Record<string, unknown>)[field],
        (y as Record<string, unknown>)[field],
      );
      if (order !== 0) return desc ? -order : order;
    }
    return 0;
  });
  return copy;
}

/** Parses a non-negative decimal integer query value; undefined when absent, null when invalid. */
export function parseCount(value: string | null): number | undefined | null {
  if (value === null || value === '') return undefined;
  if (!/^\d+$/.test(value.trim())) return null;
  return Number(value.trim());
}
