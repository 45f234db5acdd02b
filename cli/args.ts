/** A usage problem: exit status 2 with the message and a hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The longest `--timeout`: a day. */
export const MAX_TIMEOUT_SECONDS = 86_400;
/**
 * The shortest: the client starts no Tanium request with less than a second left (MIN_ATTEMPT_MS), so
 * with one second every action would fail unsent (a few milliseconds pass before its first request).
 */
export const MIN_TIMEOUT_SECONDS = 2;

/** A `--param` value: text, or the items of a JSON array given for a `list` parameter. */
export type ParamValue = string | string[];

export interface RunArgs {
  action: string;
  params: Record<string, ParamValue>;
  json: boolean;
  timeoutSeconds: number;
  /** `--help` or `-h` was given: print run's usage, run nothing. */
  help: boolean;
}

/**
 * Whether the line asks for help: whatever else is on it, even a malformed option before it, someone
 * asking for help wants the usage, not an error about the rest.
 */
function asksForHelp(args: readonly string[]): boolean {
  return args.some((arg) => arg === '--help' || arg === '-h');
}

/** Parses `run "<action>" --param name=value ... [--json] [--timeout <s>]` (or `run --help`). */
export function parseRunArgs(args: readonly string[]): RunArgs {
  const params: Record<string, ParamValue> = {};
  let action: string | undefined;
  let json = false;
  let timeoutSeconds = 900;
  if (asksForHelp(args)) return { action: '', params, json, timeoutSeconds, help: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--json') json = true;
    else if (arg === '--param' || arg === '-p') {
      const pair = args[++i];
      if (pair === undefined) throw new UsageError('--param needs name=value');
      addParam(params, pair);
    } else if (arg.startsWith('--param=')) addParam(params, arg.slice('--param='.length));
    else if (arg === '--timeout' || arg.startsWith('--timeout=')) {
      const text = arg.includes('=') ? arg.slice('--timeout='.length) : args[++i];
      // Digits only: Number() would also take 0x10 or 1e2.
      const value = /^\d+$/.test(text ?? '') ? Number(text) : Number.NaN;
      // A day at most: the deadline becomes a timer, and Node's timers stop at 2^31 - 1 ms (24.8 days).
      if (!Number.isInteger(value) || value < MIN_TIMEOUT_SECONDS || value > MAX_TIMEOUT_SECONDS)
        throw new UsageError(
          `--timeout needs a whole number of seconds from ${MIN_TIMEOUT_SECONDS} to ${MAX_TIMEOUT_SECONDS}`,
        );
      timeoutSeconds = value;
    } else if (arg.startsWith('-')) throw new UsageError(`Unknown option ${arg}`);
    else if (action === undefined) action = arg;
    else throw new UsageError(`Unexpected argument '${arg}' (quote action names that contain spaces)`);
  }
  if (action === undefined)
    throw new UsageError('Name the action to run, e.g. tanium-tr run "list connections"');
  return { action, params, json, timeoutSeconds, help: false };
}

function addParam(params: Record<string, ParamValue>, pair: string): void {
  const at = pair.indexOf('=');
  if (at <= 0) throw new UsageError(`--param needs name=value (got '${pair}')`);
  const name = pair.slice(0, at);
  // The second value would silently replace the first: a filter dropped widens a search unseen.
  if (Object.hasOwn(params, name)) {
    throw new UsageError(
      `--param ${name} is given twice; give a list parameter its items in one value (a comma list or a JSON array)`,
    );
  }
  setOwn(params, name, pair.slice(at + 1));
}

/**
 * Sets an own property, as JSON.parse makes one: a parameter named `__proto__` is then one the action
 * warns it does not take, as it would in a request, not the object's prototype.
 */
function setOwn(target: Record<string, ParamValue>, name: string, value: ParamValue): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The action's list parameters whose value is a JSON array of strings, as that array, as a Lambda event
 * would carry it (a list may be "a comma list or a JSON array"). Every other value stays the text given:
 * a text parameter may well start with `[` (a file name such as `[1].exe`, a YARA rule), and a list item
 * may too, unless the whole value is such an array.
 */
export function withListArrays(
  params: Record<string, ParamValue>,
  definitions: Record<string, { doc: { type: string } }>,
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [name, value] of Object.entries(params)) {
    const isList = Object.hasOwn(definitions, name) && definitions[name]?.doc.type === 'list';
    setOwn(out, name, isList && typeof value === 'string' ? listArray(name, value) : value);
  }
  return out;
}

function listArray(name: string, text: string): ParamValue {
  if (!text.startsWith('[')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (!Array.isArray(parsed)) return text;
  if (parsed.every((item) => typeof item === 'string')) return parsed;
  // As a comma list, `[1,2]` would be the items `[1` and `2]`: a delete of ids nobody meant, or a filter
  // that matches nothing. A Lambda event with that array is refused too.
  throw new UsageError(
    `--param ${name}: a list's JSON array must hold strings, e.g. ${name}=${JSON.stringify(parsed.map(String))}, or write it as a comma list`,
  );
}

/** How many messages a redrive moves unless `--max` says. */
export const DEFAULT_REDRIVE_MAX = 10_000;

export interface RedriveArgs {
  from: string;
  to: string;
  max: number;
  dryRun: boolean;
  help: boolean;
}

/** Parses `redrive --from <url> --to <url> [--max <n>] [--dry-run]` (or `redrive --help`). */
export function parseRedriveArgs(args: readonly string[]): RedriveArgs {
  const parsed: Partial<RedriveArgs> = { max: DEFAULT_REDRIVE_MAX, dryRun: false, help: false };
  if (asksForHelp(args)) return { ...parsed, help: true } as RedriveArgs;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const value = () => {
      const next = args[index + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      index++;
      return next;
    };
    if (arg === '--dry-run') parsed.dryRun = true;
    else if (arg === '--from') parsed.from = queueUrl(arg, value());
    else if (arg === '--to') parsed.to = queueUrl(arg, value());
    else if (arg === '--max') {
      // Digits only, as --timeout: Number() would also take 0x10 or 1e2.
      const text = value();
      const max = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isInteger(max) || max < 1) throw new UsageError('--max must be a whole number from 1');
      parsed.max = max;
    } else throw new UsageError(`Unknown option ${arg}`);
  }
  if (parsed.from === undefined || parsed.to === undefined) {
    throw new UsageError('redrive needs --from <dead-letter queue URL> and --to <family queue URL>');
  }
  if (parsed.from === parsed.to) throw new UsageError('--from and --to name the same queue');
  return parsed as RedriveArgs;
}

function queueUrl(option: string, value: string): string {
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new UsageError(
      `${option} must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    );
  }
  return value;
}
