import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  causedByDeadline,
  DeadlineError,
  LoginError,
  TaniumError,
  TooLargeError,
  toTaniumError,
  unexpectedResponse,
  ValidationError,
  VaultError,
} from '../../../shared/tanium/errors.ts';

describe('Tanium errors', () => {
  it.each([
    ['TaniumError', () => new TaniumError('tanium', 'm'), 'tanium'],
    ['LoginError', () => new LoginError('auth', 'm', {}), 'auth'],
    ['DeadlineError', () => new DeadlineError('transient', 'm', {}), 'transient'],
    ['ValidationError', () => new ValidationError('m'), 'validation'],
    ['ConfigError', () => new ConfigError('m'), 'config'],
    ['VaultError', () => new VaultError('m'), 'vault'],
    ['TooLargeError', () => new TooLargeError('m'), 'too_large'],
  ])('names a %s as such in logs and stacks, with its kind', (name, create, kind) => {
    // Act
    const error = create();

    // Assess
    expect(error.name).toBe(name);
    expect(String(error)).toBe(`${name}: m`);
    expect(error.kind).toBe(kind);
  });

  it('keeps the cause of a configuration error', () => {
    // Prepare
    const cause = new SyntaxError('Unexpected end of JSON input');

    // Act / Assess
    expect(new ConfigError('Secret is not JSON', cause).cause).toBe(cause);
  });

  it('copies every field with a prefix on the message, the original as its cause', () => {
    // Prepare
    const original = new TaniumError('transient', 'Error from server. Status Code: 503', {
      retryable: true,
      status: 503,
      afterLostAnswer: true,
      requestFault: true,
      retryAfterMs: 5_000,
    });

    // Act
    const prefixed = original.withPrefix('Close connection failed. ');

    // Assess
    expect(prefixed).toMatchObject({
      message: 'Close connection failed. Error from server. Status Code: 503',
      kind: 'transient',
      retryable: true,
      status: 503,
      afterLostAnswer: true,
      requestFault: true,
      retryAfterMs: 5_000,
    });
    expect(prefixed.cause).toBe(original);
  });

  it('is neither retryable nor a fault of the request unless told so', () => {
    // Act
    const error = new TaniumError('config', 'Secret is missing a field');

    // Assess: a config failure the owner must fix, counted as a service failure
    expect(error.retryable).toBe(false);
    expect(error.requestFault).toBe(false);
    expect(error.afterLostAnswer).toBe(false);
    // No `cause` key either, which a log would show as `[cause]: undefined`
    expect(Object.hasOwn(error, 'cause')).toBe(false);
  });

  it('turns anything else thrown into an unexpected Tanium failure that keeps it as its cause', () => {
    // Prepare
    const thrown = new RangeError('bad');

    // Act
    const error = toTaniumError(thrown);

    // Assess
    expect(error.info).toEqual({ kind: 'tanium', retryable: false });
    expect(error.message).toBe('Unexpected error: bad');
    expect(error.cause).toBe(thrown);
  });

  it('passes a Tanium error through as it is', () => {
    // Prepare
    const thrown = new ValidationError('limit must be a whole number');

    // Act / Assess
    expect(toTaniumError(thrown)).toBe(thrown);
  });

  it('words a 2xx body of the wrong shape', () => {
    // Act
    const error = unexpectedResponse('a list of connections');

    // Assess
    expect(error.info).toEqual({ kind: 'tanium', retryable: false });
    expect(error.message).toBe(
      'Error occurred while processing the response from server. Expected a list of connections',
    );
  });
});

describe('Tanium errors: a refused login', () => {
  const cause = new Error('401 from Tanium');

  it('answered again without a login, says why and keeps what the refusal was', () => {
    // Prepare
    const refused = new LoginError('auth', 'Login failed: bad credentials', {
      retryable: false,
      status: 401,
      cause,
    });

    // Act
    const repeated = refused.repeated();

    // Assess
    expect(repeated).toBeInstanceOf(LoginError);
    expect(repeated.message).toBe(
      'Login failed: bad credentials (the same credentials were refused less than a minute ago: not tried again yet, so that Tanium does not lock the account)',
    );
    expect(repeated.info).toEqual({ kind: 'auth', retryable: false });
    expect(repeated.status).toBe(401);
    expect(repeated.cause).toBe(cause);
  });

  it('after a lost answer, is marked so and keeps its status, cause and wait', () => {
    // Prepare
    const refused = new LoginError('transient', 'Login failed: Tanium is busy', {
      retryable: true,
      status: 503,
      cause,
      retryAfterMs: 5_000,
    });

    // Act
    const afterLost = refused.afterLost();

    // Assess
    expect(afterLost).toBeInstanceOf(LoginError);
    expect(afterLost.afterLostAnswer).toBe(true);
    expect(afterLost.message).toBe('Login failed: Tanium is busy');
    expect(afterLost.info).toEqual({ kind: 'transient', retryable: true });
    expect(afterLost.status).toBe(503);
    expect(afterLost.retryAfterMs).toBe(5_000);
    expect(afterLost.cause).toBe(cause);
  });

  it('keeps no status it did not have', () => {
    // Prepare
    const refused = new LoginError('connection', 'Login failed: no answer', { retryable: true });

    // Act / Assess
    expect(refused.repeated().status).toBeUndefined();
    expect(refused.afterLost().status).toBeUndefined();
    expect(refused.afterLost().retryAfterMs).toBeUndefined();
  });
});

describe('Tanium errors: stopped by the deadline', () => {
  it('finds a deadline under a login and a prefix', () => {
    // Prepare
    const deadline = new DeadlineError('transient', 'no time left', { retryable: true });
    const login = new LoginError('transient', 'Login failed', { retryable: true, cause: deadline });

    // Act / Assess
    expect(causedByDeadline(login.withPrefix('Close connection failed. '))).toBe(true);
    expect(causedByDeadline(new TaniumError('tanium', 'refused'))).toBe(false);
  });

  it('looks eight errors deep for the deadline, and no deeper', () => {
    // Prepare: each wrapping error one level above the deadline
    const wrapped = (levels: number) => {
      let error: Error = new DeadlineError('transient', 'no time left', { retryable: true });
      for (let i = 0; i < levels; i++) error = new Error(`level ${i}`, { cause: error });
      return error;
    };

    // Act / Assess
    expect(causedByDeadline(wrapped(7))).toBe(true);
    expect(causedByDeadline(wrapped(8))).toBe(false);
  });

  it('stops following causes that go round in a circle', () => {
    // Prepare
    const circle = new Error('outer');
    circle.cause = new Error('inner', { cause: circle });

    // Act / Assess
    expect(causedByDeadline(circle)).toBe(false);
  });
});
