import * as z from 'zod/mini';
import { ConfigError } from '../tanium/errors.ts';

/**
 * Reading function configuration from environment variables, shared by the family functions
 * (config/settings.ts) and the alert poller (alerts/settings.ts): blank counts as unset, and a bad value
 * is a ConfigError naming the variable, never echoing its value.
 */

export type Env = Record<string, string | undefined>;

/** A name or free text: a bus, a table, a namespace. */
export const envText = z.optional(
  z.string().check(z.maxLength(2048, 'must be at most 2048 characters long')),
);

/** A whole number from `min` to `max`, written in decimal digits only. */
export const envInteger = (min: number, max: number, { orZero = false } = {}) => {
  const message = `must be ${orZero ? '0 or ' : ''}a whole number from ${min} to ${max}`;
  return z.optional(
    z.pipe(
      z.string().check(z.refine((text) => /^\d+$/.test(text), message)),
      z.pipe(
        z.transform((text: string) => Number(text)),
        z
          .number()
          .check(
            z.refine(
              (value) =>
                Number.isSafeInteger(value) && ((value >= min && value <= max) || (orZero && value === 0)),
              message,
            ),
          ),
      ),
    ),
  );
};

/** Reads the variables `schema` names from `env` (trimmed; blank is unset) and validates them. */
export function readEnvironment<Shape extends z.core.$ZodShape>(
  schema: z.ZodMiniObject<Shape>,
  env: Env,
  what: string,
): z.infer<z.ZodMiniObject<Shape>> {
  const raw: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key]?.trim();
    raw[key] = value === '' ? undefined : value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join('.')} ${issue.message}`,
    );
    const variables = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0])))];
    throw new InvalidEnvironment(`Invalid ${what}: ${problems.join('; ')}`, variables, problems);
  }
  return parsed.data;
}

/**
 * A ConfigError that also names the variables at fault, so a caller can do without them, and lists each
 * problem on its own, for a caller that words the message itself (the stack's environment checks).
 */
export class InvalidEnvironment extends ConfigError {
  constructor(
    message: string,
    readonly variables: readonly string[],
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
  }
}
