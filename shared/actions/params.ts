import * as z from 'zod/mini';
import { isRecord } from '../config/is-record.ts';
import { SHOWN_NAME_CHARS, shown } from '../config/message-text.ts';
import { dotSegmentMessage, isDotSegment, MAX_URL_CHARS } from '../tanium/routes.ts';

/**
 * Parameter kinds with the contract's exact messages (tanium-api.md 1.9). Each kind is a zod schema
 * (so an action's parameters are one `z.object`) plus a description used by the CLI and the README.
 */

export interface ParamDoc {
  type: 'string' | 'integer' | 'enum' | 'list';
  required: boolean;
  default?: string | number;
  values?: readonly string[];
  /** An integer's smallest and largest accepted values (the largest when there is one). */
  min?: number;
  max?: number;
  description: string;
}

export interface Param<T> {
  schema: z.ZodMiniType<T>;
  doc: ParamDoc;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_UINT64 = 18446744073709551615n;

type Ctx = z.core.ParsePayload<unknown>;

function fail(ctx: Ctx, message: string): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
  return z.NEVER as never;
}

function kind<T>(doc: ParamDoc, parse: (value: unknown, fail: (message: string) => never) => T): Param<T> {
  const schema = z.pipe(
    z.unknown(),
    z.transform((value: unknown, ctx) => parse(value, (message) => fail(ctx as unknown as Ctx, message))),
  ) as unknown as z.ZodMiniType<T>;
  return { schema, doc };
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

export const requiredMessage = (name: string) => `Please provide a value for the '${name}' parameter`;
const stringMessage = (name: string) => `Please provide a string value in the '${name}' parameter`;
const enumMessage = (name: string, values: readonly string[]) =>
  `Please provide valid input from [${values.map((v) => `'${v}'`).join(', ')}] in '${name}' action parameter`;

interface TextOptions {
  description: string;
  /** Identifiers are trimmed; free text (paths, documents, queries) is kept as given. */
  trim?: boolean;
  /** The value goes into a Tanium request URL, in its path or its query: see `urlValueProblem`. */
  inUrl?: UrlPlacement;
}

/** Where in a URL a value goes, which decides how it is encoded: `segment()` or URLSearchParams. */
export type UrlPlacement = 'path' | 'query';

/**
 * The most one parameter may take of a Tanium request URL once percent-encoded: half of what the client
 * sends at all (MAX_URL_CHARS, which servers' request-line limits set), so that a value too long is
 * refused here, by name, before any call, rather than answered with a 414 or 431 that names nothing.
 */
export const MAX_URL_VALUE_CHARS = MAX_URL_CHARS / 2;

/** A UTF-16 surrogate that is not half of a pair: no URL can carry it (encoders throw or replace it). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `text` holds a UTF-16 surrogate that is not half of a pair, which no UTF-8 encoding keeps. */
export const hasLoneSurrogate = (text: string): boolean => LONE_SURROGATE.test(text);

/** The failure for a parameter holding a lone surrogate, saying what cannot carry it. */
export const loneSurrogateMessage = (name: string, carrier: string) =>
  `Please provide a valid value in the '${name}' parameter: it holds an unpaired UTF-16 surrogate, which ${carrier} can carry`;

/**
 * The ASCII characters each encoder leaves as they are: encodeURIComponent's (path segments), and
 * URLSearchParams', which also writes a space as `+`.
 */
const UNRESERVED: Record<UrlPlacement, RegExp> = {
  path: /[A-Za-z0-9\-_.!~*'()]/,
  query: /[A-Za-z0-9\-_.* ]/,
};

/** The length of `text` percent-encoded as UTF-8 where `placement` puts it. */
export function encodedLength(text: string, placement: UrlPlacement = 'path'): number {
  const unreserved = UNRESERVED[placement];
  let length = 0;
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (code < 0x80) length += unreserved.test(char) ? 1 : 3;
    else length += 3 * (code < 0x800 ? 2 : code < 0x10000 ? 3 : 4);
  }
  return length;
}

/**
 * Why `text` cannot go into a request URL as the `name` parameter, taking `sentLength` characters of it,
 * or undefined when it can.
 */
export function urlValueProblem(name: string, text: string, sentLength: () => number): string | undefined {
  if (LONE_SURROGATE.test(text)) return loneSurrogateMessage(name, 'no URL');
  // Nine encoded characters per UTF-16 unit at most: short values skip the count.
  if (text.length * 9 <= MAX_URL_VALUE_CHARS) return undefined;
  const length = sentLength();
  if (length <= MAX_URL_VALUE_CHARS) return undefined;
  return `Please provide a shorter value in the '${name}' parameter: it is ${length.toLocaleString('en-US')} characters long once URL-encoded, over the ${MAX_URL_VALUE_CHARS.toLocaleString('en-US')} one parameter may take of a Tanium request URL`;
}

/** `text` as the parameter's value, or the failure when it is meant for a URL and cannot go into one. */
function checkedText(name: string, options: TextOptions, text: string, fail: (message: string) => never) {
  const placement = options.inUrl;
  if (placement === undefined) return text;
  // As segment() would refuse it when the action builds its path, but before anything is called.
  if (placement === 'path' && isDotSegment(text)) return fail(dotSegmentMessage(name));
  const problem = urlValueProblem(name, text, () => encodedLength(text, placement));
  return problem === undefined ? text : fail(problem);
}

function requiredTextParser(name: string, options: TextOptions) {
  return (value: unknown, fail: (message: string) => never): string => {
    if (isBlank(value)) return fail(requiredMessage(name));
    if (typeof value !== 'string') return fail(stringMessage(name));
    return checkedText(name, options, options.trim === false ? value : value.trim(), fail);
  };
}

/** A required string. */
export function requiredText(name: string, options: TextOptions): Param<string> {
  return kind(
    { type: 'string', required: true, description: options.description },
    requiredTextParser(name, options),
  );
}

/**
 * A required name that may also be a numeric id (1.9 lists numeric `computer_group_name` among the
 * integers): a JSON integer is taken as its decimal digits, as if it had been sent as a string.
 */
export function requiredNameOrId(name: string, options: TextOptions): Param<string> {
  const parseText = requiredTextParser(name, options);
  return kind({ type: 'string', required: true, description: options.description }, (value, fail) => {
    if (typeof value !== 'number') return parseText(value, fail);
    if (!Number.isSafeInteger(value))
      return fail(`Please provide a valid integer value in the ${name} parameter`);
    if (value < 0) return fail(`Please provide a valid non-negative integer value in the ${name} parameter`);
    return String(value);
  });
}

/** An optional string; blank counts as absent. */
export function optionalText(name: string, options: TextOptions): Param<string | undefined> {
  return kind({ type: 'string', required: false, description: options.description }, (value, fail) => {
    if (isBlank(value)) return undefined;
    if (typeof value !== 'string') return fail(stringMessage(name));
    return checkedText(name, options, options.trim === false ? value : value.trim(), fail);
  });
}

/**
 * Parses the integer forms of 1.9: a whole JSON number, or ASCII digits with an optional `-`. `-0` is
 * zero (`+ 0` makes it the plain 0), so it meets the zero rule, never the negative one, and no `-0`
 * reaches an action's arithmetic or comparisons by identity.
 */
function parseInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value + 0 : undefined;
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) {
    const parsed = Number(value.trim());
    return Number.isSafeInteger(parsed) && Math.abs(parsed) <= MAX_SAFE ? parsed + 0 : undefined;
  }
  return undefined;
}

interface IntegerOptions {
  description: string;
  /** Zero allowed (offset, wait_seconds, numeric group ids). */
  allowZero?: boolean;
  default?: number;
  max?: { value: number; message: string };
}

function integerParser(name: string, options: IntegerOptions) {
  return (value: unknown, fail: (message: string) => never): number => {
    const parsed = parseInteger(value);
    if (parsed === undefined) return fail(`Please provide a valid integer value in the ${name} parameter`);
    if (parsed < 0) return fail(`Please provide a valid non-negative integer value in the ${name} parameter`);
    if (parsed === 0 && !options.allowZero) {
      return fail(`Please provide a valid non-zero positive integer value in the ${name} parameter`);
    }
    if (options.max && parsed > options.max.value) return fail(options.max.message);
    return parsed;
  };
}

/** An integer with a default (applied when absent or blank). */
export function integer(name: string, options: IntegerOptions & { default: number }): Param<number> {
  const parse = integerParser(name, options);
  return kind(
    { ...integerRange(options), required: false, default: options.default, description: options.description },
    (value, fail) => (isBlank(value) ? options.default : parse(value, fail)),
  );
}

/** A required integer. */
export function requiredInteger(name: string, options: IntegerOptions): Param<number> {
  const parse = integerParser(name, options);
  return kind(
    { ...integerRange(options), required: true, description: options.description },
    (value, fail) => (isBlank(value) ? fail(requiredMessage(name)) : parse(value, fail)),
  );
}

/** The range integerParser accepts, for the docs. */
function integerRange(options: IntegerOptions): Pick<ParamDoc, 'type' | 'min' | 'max'> {
  return {
    type: 'integer',
    min: options.allowZero ? 0 : 1,
    ...(options.max ? { max: options.max.value } : {}),
  };
}

/** A 64-bit id (process_table_id): positive, up to 2^64-1, kept as a canonical decimal string. */
export function requiredId64(name: string, description: string): Param<string> {
  return kind({ type: 'integer', required: true, description }, (value, fail) => {
    if (isBlank(value)) return fail(requiredMessage(name));
    let text: string;
    if (typeof value === 'number') {
      // A JS number above 2^53 has already lost digits, so only safe integers are accepted as numbers.
      if (!Number.isSafeInteger(value))
        return fail(`Please provide a valid integer value in the ${name} parameter`);
      text = String(value);
    } else if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) {
      text = value.trim();
    } else {
      return fail(`Please provide a valid integer value in the ${name} parameter`);
    }
    const big = BigInt(text);
    if (big < 0n) return fail(`Please provide a valid non-negative integer value in the ${name} parameter`);
    if (big === 0n)
      return fail(`Please provide a valid non-zero positive integer value in the ${name} parameter`);
    if (big > MAX_UINT64) return fail(`Please provide a valid integer value in the ${name} parameter`);
    return big.toString();
  });
}

/** One of a fixed set of values; blank takes the default. */
export function enumeration<V extends string>(
  name: string,
  values: readonly V[],
  options: { description: string; default?: V },
): Param<V> {
  const doc: ParamDoc = {
    type: 'enum',
    required: options.default === undefined,
    values,
    description: options.description,
  };
  if (options.default !== undefined) doc.default = options.default;
  return kind(doc, (value, fail) => {
    if (isBlank(value)) return options.default ?? fail(requiredMessage(name));
    if (typeof value !== 'string') return fail(stringMessage(name));
    const trimmed = value.trim();
    return (values as readonly string[]).includes(trimmed) ? (trimmed as V) : fail(enumMessage(name, values));
  });
}

/** Splits a comma list: trimmed, empty items dropped. */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

interface ListOptions {
  description: string;
  required?: boolean;
  /** Drop repeated items, keeping the first occurrence (order is meaning: sort priority). */
  dedupe?: boolean;
  values?: readonly string[];
  /** Message when a required list has no item after parsing. */
  emptyMessage?: string;
  /** The items go into a Tanium request URL: bounded together as one value (`urlValueProblem`). */
  inUrl?: UrlPlacement;
  /**
   * Items pair up by position with another list's (the event filters): an array item holding a comma is
   * refused instead of split, which would shift every later pair onto another field.
   */
  paired?: boolean;
  /**
   * What every item must look like, and the message for one that does not (given the item): a value
   * Tanium would ignore rather than refuse (a delete of an id that is not one) is refused here instead.
   */
  itemFormat?: { pattern: RegExp; message: (item: string) => string };
}

/** A comma-separated list (also accepts a JSON array of strings). Absent -> undefined. */
export function list(name: string, options: ListOptions): Param<string[] | undefined> {
  const doc: ParamDoc = {
    type: 'list',
    required: options.required ?? false,
    description: options.description,
  };
  if (options.values) doc.values = options.values;
  return kind(doc, (value, fail) => {
    if (isBlank(value)) return options.required ? fail(requiredMessage(name)) : undefined;
    let items: string[];
    if (typeof value === 'string') items = splitList(value);
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      // An item can never hold a comma (tanium-api.md 1.9): Tanium splits the joined list on it, so an
      // array item 'a,b' is two items here too, and de-duplication and counts see what Tanium will.
      const withComma = options.paired ? value.find((item) => item.includes(',')) : undefined;
      if (withComma !== undefined) {
        return fail(
          `Please provide items without commas in the '${name}' parameter (got '${shown(withComma)}')`,
        );
      }
      items = value.flatMap(splitList);
    } else return fail(stringMessage(name));
    if (options.dedupe) items = [...new Set(items)];
    if (options.values) {
      const allowed = options.values;
      if (items.some((item) => !allowed.includes(item))) return fail(enumMessage(name, allowed));
    }
    if (items.length === 0) {
      return options.required ? fail(options.emptyMessage ?? requiredMessage(name)) : undefined;
    }
    const format = options.itemFormat;
    const malformed = format && items.find((item) => !format.pattern.test(item));
    if (format && malformed !== undefined) return fail(format.message(shown(malformed)));
    const placement = options.inUrl;
    if (placement === undefined) return items;
    const joined = items.join(',');
    const problem = urlValueProblem(name, joined, () => encodedLength(joined, placement));
    return problem === undefined ? items : fail(problem);
  });
}

export type ParamShape = Record<string, Param<unknown>>;
export type ParamsOf<S extends ParamShape> = { [K in keyof S]: S[K] extends Param<infer T> ? T : never };

/** How many ignored names a warning lists: the keys come from the caller. */
const IGNORED_NAMES_SHOWN = 10;

/**
 * Whether `key` and `value` are what SOAR itself adds to every action's parameters: `context`, an
 * object (artifact_id, guid, parent_action_run). A bridge forwarding SOAR's `param` sends it on every
 * call, and playbooks read it back from the echoed `parameter.context`. A string there is not SOAR's: no
 * action takes `context`, and get process tree's `process_context`, which Tanium calls `context`, written
 * under Tanium's name is a mistake worth naming.
 */
export function isSoarContext(key: string, value: unknown): boolean {
  return key === 'context' && isRecord(value);
}

/**
 * The parameters `raw` has that the action does not take: ignored, as SOAR did, but worth a warning,
 * since a misspelt optional parameter (`wait_second`) would otherwise silently fall back to its default.
 * `placeholders` are the connector's own dummy parameters, which ported playbooks send on every call;
 * SOAR's own `context` (isSoarContext) is never named either.
 */
export function ignoredParamNames(
  shape: ParamShape,
  raw: Record<string, unknown>,
  placeholders: readonly string[] = [],
): string[] {
  return Object.keys(raw)
    .filter(
      (key) => !Object.hasOwn(shape, key) && !placeholders.includes(key) && !isSoarContext(key, raw[key]),
    )
    .slice(0, IGNORED_NAMES_SHOWN)
    .map((key) => shown(key, SHOWN_NAME_CHARS));
}

/**
 * Validates raw parameters field by field in declaration order (so the first message is about the first
 * parameter a user sees) and returns the typed values, or the first failure's message. Unknown keys are
 * ignored, as SOAR did.
 */
export function parseParams<S extends ParamShape>(
  shape: S,
  raw: Record<string, unknown>,
): { ok: true; value: ParamsOf<S> } | { ok: false; message: string } {
  const out: Record<string, unknown> = {};
  for (const [key, param] of Object.entries(shape)) {
    const parsed = param.schema.safeParse(raw[key]);
    if (!parsed.success)
      return { ok: false, message: parsed.error.issues[0]?.message ?? `Invalid '${key}' parameter` };
    if (parsed.data !== undefined) out[key] = parsed.data;
  }
  return { ok: true, value: out as ParamsOf<S> };
}
