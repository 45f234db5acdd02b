import { describe, expect, it } from 'vitest';
import { parseRedriveArgs, parseRunArgs, UsageError, withListArrays } from '../../../cli/args.ts';
import { parseParams } from '../../../shared/actions/params.ts';
import { findAction } from '../../../shared/actions/table.ts';

describe('tanium-tr run arguments', () => {
  it('takes --timeout as a whole number of seconds, given as a separate word or after =', () => {
    // Act / Assess
    expect(parseRunArgs(['list connections', '--timeout', '30']).timeoutSeconds).toBe(30);
    expect(parseRunArgs(['list connections', '--timeout=45']).timeoutSeconds).toBe(45);
  });

  it.each(['0x10', '1e2', '30s', '', ' 30'])(
    'refuses --timeout=%j, which is no plain number of seconds',
    (value) => {
      // Act / Assess
      expect(() => parseRunArgs(['list connections', `--timeout=${value}`])).toThrow(UsageError);
    },
  );
});

describe('tanium-tr run arguments: options and usage errors', () => {
  it('takes the action, its parameters and --json, with the default timeout', () => {
    // Act / Assess
    expect(
      parseRunArgs(['list connections', '-p', 'a=1', '--param', 'b=x=y', '--param=c=', '--json']),
    ).toEqual({
      action: 'list connections',
      params: { a: '1', b: 'x=y', c: '' },
      json: true,
      timeoutSeconds: 900,
      help: false,
    });
    expect(parseRunArgs(['list connections']).json).toBe(false);
  });

  it.each([['--help'], ['-h']])('answers %s with help, whatever else is on the line', (help) => {
    // Act / Assess: malformed options before it or after it change nothing
    for (const line of [
      ['list connections', help, '--bogus'],
      ['--timeout', '0', help],
      ['--bogus', help],
      ['--param', 'oops', help],
      [help],
    ]) {
      expect(parseRunArgs(line)).toEqual({
        action: '',
        params: {},
        json: false,
        timeoutSeconds: 900,
        help: true,
      });
    }
  });

  it.each([
    ['2', 2],
    ['86400', 86_400],
  ])('takes --timeout %s, at the edge of what it allows', (value, seconds) => {
    // Act / Assess
    expect(parseRunArgs(['list connections', '--timeout', value]).timeoutSeconds).toBe(seconds);
  });

  it.each([
    [['--timeout', '1'], '--timeout needs a whole number of seconds from 2 to 86400'],
    [['--timeout', '86401'], '--timeout needs a whole number of seconds from 2 to 86400'],
    [['--timeout'], '--timeout needs a whole number of seconds from 2 to 86400'],
    [['--param'], '--param needs name=value'],
    [['-p', 'novalue'], "--param needs name=value (got 'novalue')"],
    [['--param', '=x'], "--param needs name=value (got '=x')"],
    [['--jsn'], 'Unknown option --jsn'],
    [['-x'], 'Unknown option -x'],
    [['extra'], "Unexpected argument 'extra' (quote action names that contain spaces)"],
  ])('refuses %j after the action: %s', (args, message) => {
    // Act / Assess
    expect(() => parseRunArgs(['list connections', ...args])).toThrow(new UsageError(message));
  });

  it('asks for the action when none is named', () => {
    // Act / Assess
    expect(() => parseRunArgs(['--json'])).toThrow(
      new UsageError('Name the action to run, e.g. tanium-tr run "list connections"'),
    );
  });
});

describe('tanium-tr redrive arguments', () => {
  const queues = ['--from', 'https://sqs.example/1/dlq', '--to', 'https://sqs.example/1/q'];

  it('takes --max as a whole number of messages', () => {
    // Act / Assess
    expect(parseRedriveArgs([...queues, '--max', '25']).max).toBe(25);
    expect(parseRedriveArgs([...queues, '--max', '1']).max).toBe(1);
  });

  it('takes the queues, a dry run, and by default a run of up to 10,000 messages', () => {
    // Act / Assess
    expect(parseRedriveArgs([...queues, '--dry-run'])).toEqual({
      from: 'https://sqs.example/1/dlq',
      to: 'https://sqs.example/1/q',
      max: 10_000,
      dryRun: true,
      help: false,
    });
    // A local endpoint is plain http
    expect(
      parseRedriveArgs(['--from', 'http://127.0.0.1:4566/1/dlq', '--to', 'http://127.0.0.1:4566/1/q']).from,
    ).toBe('http://127.0.0.1:4566/1/dlq');
  });

  it.each([['--help'], ['-h']])('answers %s with help, even without the queues', (help) => {
    // Act / Assess
    expect(parseRedriveArgs([help]).help).toBe(true);
  });

  it.each([['--help'], ['-h']])('answers %s with help after a malformed option too', (help) => {
    // Act / Assess
    for (const line of [
      ['--max', '0', help],
      ['--from', 'not a url', help],
      ['--bogus', help],
    ]) {
      expect(parseRedriveArgs(line).help).toBe(true);
    }
  });

  it.each([
    [
      ['--to', 'https://sqs.example/1/q'],
      'redrive needs --from <dead-letter queue URL> and --to <family queue URL>',
    ],
    [
      ['--from', 'https://sqs.example/1/dlq'],
      'redrive needs --from <dead-letter queue URL> and --to <family queue URL>',
    ],
    [
      ['--from', 'https://sqs.example/1/q', '--to', 'https://sqs.example/1/q'],
      '--from and --to name the same queue',
    ],
    [['--from', '--to', 'https://sqs.example/1/q'], '--from needs a value'],
    [[...queues, '--max'], '--max needs a value'],
    [[...queues, '--dryrun'], 'Unknown option --dryrun'],
    [
      ['--from', 'tanium-tr-dev-connections-dlq', '--to', 'https://sqs.example/1/q'],
      '--from must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)',
    ],
    [
      ['--from', 'https://sqs.example/1/dlq', '--to', 'ftp://sqs.example/1/q'],
      '--to must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)',
    ],
  ])('refuses %j: %s', (args, message) => {
    // Act / Assess
    expect(() => parseRedriveArgs(args)).toThrow(new UsageError(message));
  });

  it.each(['0x10', '1e2', '0b11', '1.5e1', '2.0', ' ', ' 5', '0'])(
    'refuses --max %j, which is no whole number from 1',
    (value) => {
      // Act / Assess
      expect(() => parseRedriveArgs([...queues, '--max', value])).toThrow(
        new UsageError('--max must be a whole number from 1'),
      );
    },
  );
});

describe('tanium-tr run --param values', () => {
  const processTree = findAction('get process tree')!;
  const events = findAction('get events')!;
  const paramsOf = (action: NonNullable<ReturnType<typeof findAction>>, args: string[]) =>
    withListArrays(parseRunArgs([action.name, ...args]).params, action.params);

  it('refuses a parameter given twice, rather than keep the last (a filter dropped widens a search)', () => {
    expect(() =>
      parseRunArgs(['get events', '--param', 'values=evil.exe', '--param', 'values=cmd.exe']),
    ).toThrow(
      new UsageError(
        '--param values is given twice; give a list parameter its items in one value (a comma list or a JSON array)',
      ),
    );
  });

  it("keeps a parameter named __proto__ as a parameter, as a request's JSON would, not as the prototype", () => {
    // Act
    const params = paramsOf(processTree, ['--param', '__proto__=x']);

    // Assess
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.keys(params)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('x');
  });

  it("sends a list parameter's JSON array of strings as that array", () => {
    // Act
    const params = paramsOf(processTree, ['--param', 'process_context=["parent","node"]']);

    // Assess
    expect(params.process_context).toEqual(['parent', 'node']);
  });

  it('gives get process tree a process_context it accepts', () => {
    // Act
    const params = paramsOf(processTree, [
      '--param=connection_id=remote:host:1:1',
      '--param=process_table_id=7',
      '--param=process_context=["parent","node"]',
    ]);

    // Assess
    expect(parseParams(processTree.params, params)).toMatchObject({
      ok: true,
      value: { process_context: ['parent', 'node'] },
    });
  });

  it.each(['[parent,node]', '["a"', '[ "a" '])("keeps %j, which is no JSON, as a list's text", (value) => {
    // Act
    const params = paramsOf(processTree, ['--param', `process_context=${value}`]);

    // Assess
    expect(params.process_context).toBe(value);
  });

  it.each(['[1,2]', '[{"a":1}]', '[["a"]]', '[true]', '["a",1]'])(
    "refuses %j, a list's JSON array of something other than strings, rather than split it on its commas",
    (value) => {
      // Act / Assess
      expect(() => paramsOf(findAction('delete snapshot')!, ['--param', `snapshot_ids=${value}`])).toThrow(
        UsageError,
      );
    },
  );

  it("shows how to write a list's JSON array of numbers as strings", () => {
    // Act / Assess
    expect(() => paramsOf(findAction('delete snapshot')!, ['--param', 'snapshot_ids=[1,2]'])).toThrow(
      new UsageError(
        `--param snapshot_ids: a list's JSON array must hold strings, e.g. snapshot_ids=["1","2"], or write it as a comma list`,
      ),
    );
  });

  it("keeps a text parameter that looks like a JSON array as the text it is, and takes a list's item written so", () => {
    // Act: a file name such as name[1].exe is searched for as `[1]`, written as the array's one string
    const params = paramsOf(events, [
      '--param=connection_id=remote:host:1:1',
      '--param=event_type=file',
      '--param=fields=file',
      '--param=operators=co',
      '--param=values=["[1]"]',
    ]);
    const text = paramsOf(processTree, ['--param=connection_id=["remote:host:1:1"]']);

    // Assess
    expect(parseParams(events.params, params)).toMatchObject({ ok: true, value: { values: ['[1]'] } });
    expect(text.connection_id).toBe('["remote:host:1:1"]');
  });
});
