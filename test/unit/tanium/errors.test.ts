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
    ['TaniumError', () => new TaniumError('tanium', 'm')],
    ['LoginError', () => new LoginError('auth', 'm', {})],
    ['DeadlineError', () => new DeadlineError('transient', 'm', {})],
    ['ValidationError', () => new ValidationError('m')],
    ['ConfigError', () => new ConfigError('m')],
    ['VaultError', () => new VaultError('m')],
    ['TooLargeError', () => new TooLargeError('m')],
  ])('names a %s as such in logs and stacks', (name, create) => {
    // Act
    const error = create();

    // Assess
    expect(error.name).toBe(name);
    expect(String(error)).toBe(`${name}: m`);
  });

  it('is neither retryable nor a fault of the request unless told so', () => {
    // Act
    const error = new TaniumError('config', 'Secret is missing a field');

    // Assess: a config failure the owner must fix, counted as a service failure
    expect(error.retryable).toBe(false);
    expect(error.requestFault).toBe(false);
    expect(error.afterLostAnswer).toBe(false);
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

  it('stops following causes that go round in a circle', () => {
    // Prepare
    const circle = new Error('outer');
    circle.cause = new Error('inner', { cause: circle });

    // Act / Assess
    expect(causedByDeadline(circle)).toBe(false);
  });
});
