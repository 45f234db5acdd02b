/**
 * Where secrets occur in a text, in the forms an echo of them takes. A server or proxy repeating a
 * request writes a password the way its own encoder does: JSON-escaped (PHP writes `\/`, Python
 * `\u00e9`, Go and .NET `\u003c` and `\u002B`), twice JSON-escaped when the request sits in a JSON
 * message, percent-encoded (some encoders escape `!'()*` too, in either hex case, `+` for a space) or
 * HTML-escaped (named, decimal or hex entities), and sometimes in other letter case. No list of whole
 * forms can follow every encoder's choices, so each form is a pattern in which every character matches
 * any of the ways that form writes it, in any letter case.
 */

import { setMostRecent } from '../config/recent-map.ts';
import { NAMED_ENTITIES } from './html-text.ts';

export type Occurrence = [start: number, end: number];

/**
 * Characters no encoder escapes: letters, digits and `-._` (unreserved in URLs, left as they are by JSON
 * encoders and by HTML escapers that escape every other symbol). Written only as themselves, they keep
 * patterns quick to compile: V8 takes up to a millisecond for each group of alternatives in a pattern,
 * and tokens and sessions are made of these characters alone.
 */
const PLAIN = /^[0-9A-Za-z._-]$/;

/**
 * Secrets longer than this (no token, session or typed password is) are found in the fixed forms of
 * `exactForms` only: a pattern for them would take long to compile, or be too large for V8.
 */
const MAX_PATTERN_LENGTH = 256;

/**
 * One way of writing a secret. Every alternative a character has starts with itself or with one of
 * `marks`, so a text holding no mark holds the secret in this form only as it is.
 */
interface Form {
  marks: string;
  /** Pattern sources for `char`, none of them a prefix of another (see `group`). */
  alternatives(char: string): string[];
}

const literal = (text: string) => text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');

const JSON_SHORT_ESCAPES = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['/', '/'],
  ['\b', 'b'],
  ['\f', 'f'],
  ['\n', 'n'],
  ['\r', 'r'],
  ['\t', 't'],
]);

/** The escapes a JSON encoder may write for `char`: `\u` and each UTF-16 unit, and its short escape. */
function jsonEscapes(char: string): string[] {
  let unicode = '';
  for (let unit = 0; unit < char.length; unit++) unicode += `\\u${hex(char.charCodeAt(unit), 4)}`;
  const short = JSON_SHORT_ESCAPES.get(char);
  return short === undefined ? [unicode] : [unicode, `\\${short}`];
}

/** A raw backslash is left out of the JSON forms: it would be a prefix of the escapes. */
const asIsInJson = (char: string) => (char === '\\' ? [] : [char]);

/** JSON cannot hold these as they are, so an inner encoder never left one for the outer to escape. */
const jsonMustEscape = (char: string) => char === '"' || char === '\\' || char < ' ';

/**
 * An inner escape as the outer string writes it: every backslash and quote escaped (both of a
 * surrogate pair's `\u`s), and `\/`'s slash maybe too.
 */
function escapedAgain(inner: string): string[] {
  const again = inner.replace(/["\\]/g, (char) => `\\${char}`);
  return inner === '\\/' ? [again, '\\\\\\/'] : [again];
}

const JSON_ONCE: Form = {
  marks: '\\',
  alternatives: (char) => [...asIsInJson(char), ...jsonEscapes(char)].map(literal),
};

/**
 * A JSON string inside a JSON string (a request body echoed in a JSON message): the inner encoder's
 * escape escaped again (`\\\"`, `\\u00e9`, `\\/`), or a character it left as it is, escaped by the
 * outer one (`\u00e9`, `\/`). Apart from the single form: a backslash would be `\\` in one and `\\\\` in
 * the other, and a pattern allowing both backtracks.
 */
const JSON_TWICE: Form = {
  marks: '\\',
  alternatives: (char) =>
    [
      ...asIsInJson(char),
      ...(jsonMustEscape(char) ? [] : jsonEscapes(char)),
      ...jsonEscapes(char).flatMap(escapedAgain),
    ].map(literal),
};

const utf8 = new TextEncoder();

/** Escaped byte by byte in UTF-8, a space maybe as `+`; a raw `%` would be a prefix of `%25`. */
const PERCENT: Form = {
  marks: '%+',
  alternatives: (char) => {
    let escaped = '';
    for (const byte of utf8.encode(char)) escaped += `%${hex(byte, 2)}`;
    const asIs = char === '%' ? [] : [char];
    return [...asIs, escaped, ...(char === ' ' ? ['+'] : [])].map(literal);
  },
};

/** Entities with any leading zeros, and the names the error text decodes; a raw `&` would be a prefix. */
const HTML: Form = {
  marks: '&',
  alternatives: (char) => {
    const code = char.codePointAt(0) ?? 0;
    const names = [...NAMED_ENTITIES].filter(([, value]) => value === char).map(([name]) => `&${name};`);
    const asIs = char === '&' ? [] : [literal(char)];
    return [...asIs, `&#0*${code};`, `&#x0*${hex(code, 1)};`, ...names];
  },
};

const FORMS: readonly Form[] = [JSON_ONCE, JSON_TWICE, PERCENT, HTML];

/** `char` and its other letter cases: an echo in upper case also escapes upper-case letters. */
function caseVariants(char: string): string[] {
  const variants = [char];
  for (const variant of [char.toLowerCase(), char.toUpperCase()]) {
    // One character only: 'ß' is 'SS' in upper case, which is no longer a character for a character.
    if ([...variant].length === 1 && !variants.includes(variant)) variants.push(variant);
  }
  return variants;
}

/**
 * Secrets shorter than this are found as they are in their own letter case only: ignoring case, a
 * password such as `tanium` or `message` would also hide Tanium's own words and the keys of its JSON
 * answers. Their escaped forms still ignore case, as encoders write hex digits in either, but a match
 * that is the secret itself in other case does not count (`unescaped`).
 */
const MIN_CASELESS_LENGTH = 8;

/**
 * The pattern matching `char` in `form`. No alternative is a prefix of another, even ignoring case
 * (duplicates in other case are dropped, the `i` flag matching them): at most one matches at a
 * position, so a failed match never backtracks into an earlier character, and a search stays linear
 * whatever the text and however many backslashes, `%` or `&` the secret holds.
 */
function group(char: string, form: Form): string {
  if (PLAIN.test(char)) return literal(char);
  const seen = new Set<string>();
  const sources: string[] = [];
  for (const variant of caseVariants(char)) {
    for (const source of form.alternatives(variant)) {
      const key = source.toUpperCase();
      if (seen.has(key)) continue;
      seen.add(key);
      sources.push(source);
    }
  }
  return sources.length === 1 ? (sources[0] as string) : `(?:${sources.join('|')})`;
}

interface Pattern {
  regex: RegExp;
  marks: string;
  /**
   * Set when a match that is the secret itself ignoring case does not count: the pattern ignores case,
   * and the secret is short (MIN_CASELESS_LENGTH). Not a test for a mark: a form may write a character
   * as itself where that character is a mark (`+` in the percent form).
   */
  unescaped?: RegExp;
}

/** The shortest start of a secret an echo cut short is hidden by (see cutPattern). */
const MIN_CUT_LENGTH = 8;

/**
 * A secret cut short by whoever echoes it (a server quoting the start of a header or a token, base64
 * without its `=` padding), as it is: any start at least half its length, and MIN_CUT_LENGTH characters,
 * matching as far as it goes. A shorter start tells little of the secret, and hiding it would hide
 * ordinary words. Each character after the required start is optional only if the one before it
 * matched, so a match never backtracks past the point where the text leaves the secret.
 */
function cutPattern(secret: string): RegExp | undefined {
  const chars = [...secret];
  const required = Math.max(MIN_CUT_LENGTH, Math.ceil(chars.length / 2));
  if (chars.length <= required) return undefined;
  let rest = '';
  for (let at = chars.length - 1; at >= required; at--) rest = `(?:${literal(chars[at] as string)}${rest})?`;
  return new RegExp(`${literal(chars.slice(0, required).join(''))}${rest}`, 'gi');
}

/**
 * The secret as it is (ignoring case unless it is short), cut short, then in each form that writes it
 * otherwise.
 */
function patternsOf(secret: string): Pattern[] {
  const asIs = literal(secret);
  const sources = new Set([asIs]);
  const short = [...secret].length < MIN_CASELESS_LENGTH;
  const unescaped = short ? new RegExp(`^${asIs}$`, 'i') : undefined;
  const patterns: Pattern[] = [{ regex: new RegExp(asIs, short ? 'g' : 'gi'), marks: '' }];
  const cut = cutPattern(secret);
  if (cut) patterns.push({ regex: cut, marks: '' });
  for (const form of FORMS) {
    let source = '';
    for (const char of secret) source += group(char, form);
    if (sources.has(source)) continue;
    sources.add(source);
    patterns.push({
      regex: new RegExp(source, 'gi'),
      marks: form.marks,
      ...(unescaped ? { unescaped } : {}),
    });
  }
  return patterns;
}

/** Secrets whose patterns are kept: a container has a few, plus the sessions it opened lately. */
const MAX_KEPT = 64;
const kept = new Map<string, readonly Pattern[]>();

/**
 * Compiled once per secret: compiling costs more than searching an ordinary error body. The least
 * recently used goes first, so the sessions a container keeps opening do not push out its password.
 */
function keptPatterns(secret: string): readonly Pattern[] {
  const patterns = kept.get(secret) ?? patternsOf(secret);
  setMostRecent(kept, secret, patterns, MAX_KEPT);
  return patterns;
}

/** Percent-escapes in lowercase hex, as some encoders write them. */
function lowerHex(encoded: string): string {
  return encoded.replace(/%[0-9A-F]{2}/g, (hexEscape) => hexEscape.toLowerCase());
}

/** The fixed forms a secret too long for a pattern is found in: as is, JSON, URL, form and HTML escaped. */
function exactForms(secret: string): string[] {
  const uri = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  const html = secret
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
  return [
    ...new Set([secret, JSON.stringify(secret).slice(1, -1), uri, lowerHex(uri), form, lowerHex(form), html]),
  ];
}

/**
 * Adds the occurrences `next` finds, in order, to `found`. Overlapping ones of one search widen one
 * range: a body repeating a secret's period ('aaaa' in a megabyte of 'a') would otherwise keep a range
 * per character. Each search starts one character after the last match began, so those are found.
 */
function collect(found: Occurrence[], next: (from: number) => Occurrence | undefined): void {
  let last: Occurrence | undefined;
  for (let occurrence = next(0); occurrence; occurrence = next(occurrence[0] + 1)) {
    if (last && occurrence[0] <= last[1]) {
      last[1] = Math.max(last[1], occurrence[1]);
    } else {
      last = occurrence;
      found.push(last);
    }
  }
}

function matches(text: string, { regex, unescaped }: Pattern) {
  return (from: number): Occurrence | undefined => {
    regex.lastIndex = from;
    for (let match = regex.exec(text); match; match = regex.exec(text)) {
      if (!unescaped?.test(match[0])) return [match.index, match.index + match[0].length];
      regex.lastIndex = match.index + 1;
    }
    return undefined;
  };
}

function indexes(text: string, form: string) {
  return (from: number): Occurrence | undefined => {
    const at = text.indexOf(form, from);
    return at === -1 ? undefined : [at, at + form.length];
  };
}

/**
 * Every occurrence of every secret in `text`, in each of its forms, as [start, end) ranges: unsorted,
 * and overlapping where occurrences do. A form is searched only when the text holds one of its marks.
 */
export function secretOccurrences(text: string, secrets: Iterable<string>): Occurrence[] {
  const found: Occurrence[] = [];
  const holds = new Map<string, boolean>();
  const holdsAny = (marks: string) => {
    let held = holds.get(marks);
    if (held === undefined) {
      held = marks === '' || [...marks].some((mark) => text.includes(mark));
      holds.set(marks, held);
    }
    return held;
  };
  for (const secret of new Set(secrets)) {
    if (secret.length > MAX_PATTERN_LENGTH) {
      for (const form of exactForms(secret)) collect(found, indexes(text, form));
      continue;
    }
    for (const pattern of keptPatterns(secret)) {
      if (holdsAny(pattern.marks)) collect(found, matches(text, pattern));
    }
  }
  return found;
}
