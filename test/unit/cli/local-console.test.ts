import { afterEach, describe, expect, it, vi } from 'vitest';
import { onOutputGone, stderrLogger, stdio } from '../../../cli/local/console.ts';

function lines() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) } };
}

let stopListening: (() => void) | undefined;
afterEach(() => {
  stopListening?.();
  stopListening = undefined;
});

describe('stdio', () => {
  it('writes each line to stdout or stderr with its newline', () => {
    const out = vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const err = vi.spyOn(process.stderr, 'write').mockReturnValue(true);

    stdio.out('to stdout');
    stdio.err('to stderr');

    expect(out).toHaveBeenCalledWith('to stdout\n');
    expect(err).toHaveBeenCalledWith('to stderr\n');
    expect(out).not.toHaveBeenCalledWith('to stderr\n');
  });

  it('writes nothing more to a stream that failed: writing to it would throw', () => {
    const out = vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const err = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    // Undone by hand: restoreMocks does not undo a getter's spy, which would outlive this test.
    const gone = [
      vi.spyOn(process.stdout, 'destroyed', 'get').mockReturnValue(true),
      vi.spyOn(process.stderr, 'destroyed', 'get').mockReturnValue(true),
    ];
    try {
      stdio.out('lost');
      stdio.err('lost');

      expect(out).not.toHaveBeenCalled();
      expect(err).not.toHaveBeenCalled();
    } finally {
      for (const spy of gone) spy.mockRestore();
    }
    expect(process.stdout.destroyed).toBe(false);
  });
});

describe('onOutputGone', () => {
  it('reports an error of stdout or of stderr, until told to stop listening', () => {
    const gone: string[] = [];
    const listeners = [process.stdout.listenerCount('error'), process.stderr.listenerCount('error')];
    stopListening = onOutputGone((error) => gone.push(error.message));

    process.stdout.emit('error', new Error('write EPIPE'));
    process.stderr.emit('error', new Error('write EIO'));
    stopListening();
    stopListening = undefined;

    expect(gone).toEqual(['write EPIPE', 'write EIO']);
    expect([process.stdout.listenerCount('error'), process.stderr.listenerCount('error')]).toEqual(listeners);
  });
});

describe('stderrLogger', () => {
  it('writes warnings and errors as one line each, with the correlation id and message when given', () => {
    const { out, err, io } = lines();
    const logger = stderrLogger(io);

    logger.warn('Retrying', { correlation_id: 'req-1', message: 'throttled' });
    logger.error('Action failed', { correlation_id: 'req-2' });
    logger.error('Poll failed', { message: 'connection refused' });
    logger.warn('Plain');

    expect(err).toEqual([
      '  warn [req-1] Retrying: throttled',
      '  error [req-2] Action failed',
      '  error Poll failed: connection refused',
      '  warn Plain',
    ]);
    expect(out).toEqual([]);
  });

  it('leaves out a correlation id or message that is not a string', () => {
    const { err, io } = lines();

    stderrLogger(io).warn('Odd', { correlation_id: 42, message: { text: 'no' } });

    expect(err).toEqual(['  warn Odd']);
  });

  it('keeps debug and info lines out of the output: the JSON logs have them', () => {
    const { out, err, io } = lines();
    const logger = stderrLogger(io);

    logger.debug('details', { correlation_id: 'req-1' });
    logger.info('started', { correlation_id: 'req-1' });

    expect([...out, ...err]).toEqual([]);
  });
});
