/** Longer input is no name's typo (names are under 40 characters), and a caller may send megabytes. */
const MAX_INPUT_CHARS = 256;

/**
 * What a mistyped name most likely meant, for a message or a warning: the one candidate closest to
 * `input` by edit distance (letter case, `_` for a space and runs of spaces aside), if it is close
 * enough to be a typo, at most a third of the name's length and never more than 3 edits, and no other
 * is as close. A guess that could be either of two names is no help, so none is made.
 */
export function closestName(input: string, candidates: readonly string[]): string | undefined {
  if (input.length > MAX_INPUT_CHARS) return undefined;
  const typed = normalised(input);
  if (typed === '') return undefined;
  const limit = Math.min(3, Math.max(1, Math.floor(typed.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  let tied = false;
  for (const candidate of candidates) {
    const distance = editDistance(typed, normalised(candidate), limit + 1);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
      tied = false;
    } else if (distance === bestDistance && distance <= limit) {
      tied = true;
    }
  }
  return tied ? undefined : best;
}

/** Each of `names` that looks like a typo of one of `known`, with the name it most likely meant. */
export function likelyNames(names: readonly string[], known: readonly string[]): Record<string, string> {
  const likely: Record<string, string> = {};
  for (const name of names) {
    const meant = closestName(name, known);
    if (meant !== undefined) likely[name] = meant;
  }
  return likely;
}

function normalised(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, ' ');
}

/**
 * Levenshtein distance with adjacent swaps counted as one edit (`conenctions`), or `stopAt` as soon
 * as it is certain to be at least that: names are short, and most candidates are far off.
 */
function editDistance(a: string, b: string, stopAt: number): number {
  if (Math.abs(a.length - b.length) >= stopAt) return stopAt;
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, before[j - 2]! + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin >= stopAt) return stopAt;
    before = previous;
    previous = current;
  }
  return Math.min(previous[b.length]!, stopAt);
}
