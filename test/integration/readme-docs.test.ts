import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTION_EXAMPLES } from '../../cli/action-examples.ts';
import { DOCS_END, DOCS_START, generateActionDocs } from '../../cli/docs.ts';
import { ACTIONS } from '../../shared/actions/table.ts';

describe('README action reference', () => {
  it('has a working example for every action in the table', () => {
    expect(Object.keys(ACTION_EXAMPLES).sort()).toEqual(ACTIONS.map((a) => a.id).sort());
  });

  it('matches the action table and what the actions return (run `npm run docs` after changing an action)', async () => {
    // Prepare
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const committed = readme.slice(readme.indexOf(DOCS_START), readme.indexOf(DOCS_END) + DOCS_END.length);

    // Act
    const generated = await generateActionDocs();

    // Assess
    expect(committed).toBe(generated);
    for (const action of ACTIONS) expect(committed).toContain(`#### ${action.name} (\`${action.id}\`)`);
  }, 60_000);
});
