import { describe, expect, it } from 'vitest';
import { metricsNamespaceProblem } from '../../../shared/config/metrics-namespace.ts';

describe('Metrics namespace', () => {
  it.each([
    ['a space at the start', ' TaniumTR'],
    ['a space at the end', 'TaniumTR '],
  ])('refuses %s: the functions trim their variables and would write elsewhere', (_case, namespace) => {
    // Act
    const problem = metricsNamespaceProblem(namespace);

    // Assess
    expect(problem).toContain('with no space at either end');
  });

  it('takes a namespace with spaces inside it', () => {
    expect(metricsNamespaceProblem('Tanium TR/dev')).toBeUndefined();
  });
});
