import { describe, expect, it } from 'vitest';
import { parseRunArgs, UsageError } from '../../../cli/args.ts';
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

describe('tanium-tr run --param values', () => {
  it('sends a JSON array of strings or numbers as that array', () => {
    // Act
    const { params } = parseRunArgs([
      'get process tree',
      '--param',
      'process_context=["parent","node"]',
      '--param=ids=[1, "2"]',
    ]);

    // Assess
    expect(params.process_context).toEqual(['parent', 'node']);
    expect(params.ids).toEqual([1, '2']);
  });

  it('gives get process tree a process_context it accepts', () => {
    // Prepare
    const action = findAction('get process tree');
    const { params } = parseRunArgs([
      'get process tree',
      '--param=connection_id=remote:host:1:1',
      '--param=process_table_id=7',
      '--param=process_context=["parent","node"]',
    ]);

    // Act
    const parsed = action ? parseParams(action.params, params) : undefined;

    // Assess
    expect(parsed).toMatchObject({ ok: true, value: { process_context: ['parent', 'node'] } });
  });

  it.each(['[parent,node]', '[{"a":1}]', '[["a"]]', '[true]', '["a"'])(
    'keeps %j, which is no JSON array of strings or numbers, as text',
    (value) => {
      // Act
      const { params } = parseRunArgs(['get process tree', '--param', `process_context=${value}`]);

      // Assess
      expect(params.process_context).toBe(value);
    },
  );
});
