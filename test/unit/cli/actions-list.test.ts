import { describe, expect, it } from 'vitest';
import { type ActionInfo, actionInfos, formatActions, rangeText } from '../../../cli/actions-list.ts';
import { ACTIONS } from '../../../shared/actions/table.ts';

describe('tanium-tr actions: the action table as data', () => {
  it('says what a changing action changes, and gives a read-only one no such field', () => {
    // Act
    const infos = actionInfos();
    const byName = (name: string) => infos.find((info) => info.name === name);

    // Assess
    expect(byName('get file')).toMatchObject({ readOnly: false, changes: 'the vault' });
    expect(byName('create connection')).toMatchObject({ readOnly: false, changes: 'Tanium' });
    expect(byName('list connections')?.readOnly).toBe(true);
    expect(byName('list connections')).not.toHaveProperty('changes');
  });

  it('lists every action once, in table order, with its parameters named and documented', () => {
    // Act
    const infos = actionInfos();

    // Assess
    expect(infos.map((info) => info.id)).toEqual(ACTIONS.map((action) => action.id));
    expect(infos.find((info) => info.id === 'create_connection')?.parameters.at(-1)).toEqual({
      name: 'wait_seconds',
      type: 'integer',
      required: false,
      default: 0,
      min: 0,
      max: 900,
      description: expect.stringMatching(/^Seconds to wait for the connection to become connected/),
    });
  });
});

describe('tanium-tr actions: the accepted range of an integer parameter', () => {
  it.each([
    [{ min: 0, max: 900 }, '0 to 900'],
    [{ min: 1 }, '1 or more'],
    [{ min: 0 }, '0 or more'],
    [{}, ''],
  ])('describes %j as %j', (range, text) => {
    // Act / Assess
    expect(rangeText({ type: 'integer', required: false, description: 'n', ...range })).toBe(text);
  });
});

describe('tanium-tr actions: the plain-text list', () => {
  it('prints each action with its family, whether it is read-only, and every parameter with what it accepts', () => {
    // Prepare
    const infos: ActionInfo[] = [
      {
        name: 'list things',
        id: 'list_things',
        family: 'things',
        readOnly: true,
        description: 'Lists the things.',
        parameters: [
          {
            name: 'limit',
            type: 'integer',
            required: false,
            default: 0,
            min: 0,
            max: 9,
            description: 'At most',
          },
          { name: 'order', type: 'enum', required: true, values: ['asc', 'desc'], description: 'Order' },
        ],
      },
      {
        name: 'drop thing',
        id: 'drop_thing',
        family: 'things',
        readOnly: false,
        changes: 'Tanium',
        description: 'Drops a thing.',
        parameters: [{ name: 'id', type: 'string', required: false, default: '', description: 'Which' }],
      },
    ];

    // Act
    const text = formatActions(infos);

    // Assess: a default of 0 or '' is a default all the same
    expect(text).toBe(
      [
        'list things (list_things) [things, read-only]',
        '  Lists the things.',
        '    --param limit=<integer>  At most (optional, 0 to 9, default 0)',
        '    --param order=<enum>  Order (required, one of asc|desc)',
        'drop thing (drop_thing) [things]',
        '  Drops a thing.',
        '    --param id=<string>  Which (optional, default )',
      ].join('\n'),
    );
  });
});
