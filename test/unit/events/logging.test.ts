import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientLogger, createPowertoolsLogger } from '../../../shared/events/logging.ts';
import { FamilyRuntime } from '../../../shared/events/runtime.ts';
import { jsonLinesWrittenBy } from '../../helpers/stdout.ts';

describe('the Powertools logger behind the event layer', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('drops debug lines at INFO and prints info lines with their keys', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const logger = createPowertoolsLogger('tanium-tr-test');
    const lines = jsonLinesWrittenBy(() => {
      logger.debug('Tanium request', { path: '/plugin/products/threat-response/api/v1/conns' });
      logger.info('Request completed', { correlation_id: 'req-1', action: 'list connections' });
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'Request completed',
      service: 'tanium-tr-test',
      correlation_id: 'req-1',
      action: 'list connections',
    });
  });

  it('does not hand a debug line to Powertools at all when debug lines are dropped', () => {
    // Powertools prepares a line (trace id, level lookups) before it drops it
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const debug = vi.spyOn(Logger.prototype, 'debug');
    createPowertoolsLogger('tanium-tr-test').debug('Tanium request', { status: 200 });
    expect(debug).not.toHaveBeenCalled();
  });

  it('prints debug lines when the level is DEBUG', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
    const logger = createPowertoolsLogger('tanium-tr-test');
    const lines = jsonLinesWrittenBy(() => logger.debug('Tanium request', { status: 200 }));
    expect(lines).toEqual([
      expect.objectContaining({ level: 'DEBUG', message: 'Tanium request', status: 200 }),
    ]);
  });

  it('tells the Tanium client whether debug lines are printed, at INFO and at DEBUG', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const logger = createPowertoolsLogger('tanium-tr-test');
    const forClient = clientLogger(logger);
    expect(logger.debugEnabled?.()).toBe(false);
    expect(forClient.debugEnabled?.()).toBe(false);

    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
    const debugLogger = clientLogger(createPowertoolsLogger('tanium-tr-test'));
    expect(debugLogger.debugEnabled?.()).toBe(true);
  });

  it('hands the Tanium client its debug and warn lines with their keys', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'DEBUG');
    const forClient = clientLogger(createPowertoolsLogger('tanium-tr-test'));
    const lines = jsonLinesWrittenBy(() => {
      forClient.debug('Tanium request', { status: 200 });
      forClient.warn('Retrying Tanium request', { attempt: 2 });
    });
    expect(lines.map(({ level, message, status, attempt }) => ({ level, message, status, attempt }))).toEqual(
      [
        { level: 'DEBUG', message: 'Tanium request', status: 200, attempt: undefined },
        { level: 'WARN', message: 'Retrying Tanium request', status: undefined, attempt: 2 },
      ],
    );
  });

  it('assumes debug lines are printed when a logger cannot tell', () => {
    const forClient = clientLogger({
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: () => {},
    });
    expect(forClient.debugEnabled?.()).toBe(true);
  });

  it('takes a lower-case POWERTOOLS_LOG_LEVEL, which Powertools alone would ignore', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', ' debug ');
    const logger = createPowertoolsLogger('tanium-tr-test');
    const lines = jsonLinesWrittenBy(() => logger.debug('Tanium request', { status: 200 }));
    expect(lines).toEqual([expect.objectContaining({ level: 'DEBUG', message: 'Tanium request' })]);
  });

  it.each([
    ['unset', undefined],
    ['blank', '  '],
    ['a known level', 'WARN'],
  ])('says nothing of POWERTOOLS_LOG_LEVEL when it is %s', (_, level) => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', level);
    expect(jsonLinesWrittenBy(() => createPowertoolsLogger('tanium-tr-test'))).toEqual([]);
  });

  it('says once that POWERTOOLS_LOG_LEVEL is not a level, and logs at INFO', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'verbose');
    const lines = jsonLinesWrittenBy(() => {
      const logger = createPowertoolsLogger('tanium-tr-test');
      logger.debug('Tanium request', { status: 200 });
      logger.info('Request completed', { correlation_id: 'req-1' });
    });
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      [
        'WARN',
        'POWERTOOLS_LOG_LEVEL is not one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT; logging at INFO',
      ],
      ['INFO', 'Request completed'],
    ]);
  });

  it('takes the level from the environment a family handler is given', () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
    const runtime = new FamilyRuntime('connections', { env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
    expect(runtime.logger.debugEnabled?.()).toBe(true);
    expect(new FamilyRuntime('connections', { env: {} }).logger.debugEnabled?.()).toBe(false);
  });
});
