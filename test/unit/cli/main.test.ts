import { describe, expect, it } from 'vitest';
import { actionInfos, formatActions } from '../../../cli/actions-list.ts';
import { main } from '../../../cli/main.ts';

function lines() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) } };
}

describe('tanium-tr commands that need no Tanium', () => {
  it.each([['help'], ['-h']])(
    'prints the usage of every command on stdout for %s, exiting 0',
    async (arg) => {
      // Prepare
      const { out, err, io } = lines();

      // Act
      const status = await main([arg], { io, env: {} });

      // Assess
      expect(status).toBe(0);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(/^Usage:\n {2}tanium-tr run "<action>"/);
      for (const command of ['actions', 'emulator', 'local', 'docs', 'redrive'])
        expect(out[0]).toContain(`\n  tanium-tr ${command} `);
      expect(out[0]).toMatch(/\nExit status: 0 success, .*129 by SIGHUP\.$/);
      expect(err).toEqual([]);
    },
  );

  it('lists the actions as plain text without --json', async () => {
    // Prepare
    const { out, err, io } = lines();

    // Act
    const status = await main(['actions'], { io, env: {} });

    // Assess
    expect(status).toBe(0);
    expect(out).toEqual([formatActions(actionInfos())]);
    expect(out[0]).toContain('get file (get_file) [evidence]\n');
    expect(err).toEqual([]);
  });

  it('answers local --help without starting the pipeline, on the output it is given, exiting 0', async () => {
    // Prepare
    const { out, err, io } = lines();

    // Act
    const status = await main(['local', '--help'], { io, env: {} });

    // Assess
    expect(status).toBe(0);
    expect(out).toEqual([
      'Usage: tanium-tr local\n  Runs the typical investigation through the whole pipeline on this machine.',
    ]);
    expect(err).toEqual([]);
  });
});
