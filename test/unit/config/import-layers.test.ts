import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every TypeScript file under `dir` (relative to the project root), recursively. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(dir, name));
}

/**
 * The project files `file` imports (relative specifiers only), as paths from the project root: static
 * imports and re-exports of any form, bare `import '...'`, and `import('...')`, as TypeScript reads them
 * (comments and strings that only look like imports are not).
 */
function projectImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(ROOT, resolve(ROOT, dirname(file), specifier)));
}

/** The imports of the files under `from` that land in one of `forbidden` (folders from the root). */
function crossings(from: string, forbidden: readonly string[], allowed: readonly string[] = []): string[] {
  return sources(from).flatMap((file) =>
    projectImports(file)
      .filter((target) => forbidden.some((folder) => target.startsWith(`${folder}/`)))
      .filter((target) => !allowed.includes(target))
      .map((target) => `${file} -> ${target}`),
  );
}

// The layering the README's Development section states; a cycle between layers makes bundles pull in
// what a function does not use, and each layer's tests drag in the layers above it.
describe('Import layers (README: Development)', () => {
  it('keeps shared/ free of functions/, cli/, infra/ and test/', () => {
    // Act
    const found = crossings('shared', ['functions', 'cli', 'infra', 'test', 'bench']);

    // Assess
    expect(found).toEqual([]);
  });

  it('lets shared/config take only the error types from the layers above it', () => {
    // Act
    const found = crossings(
      'shared/config',
      ['shared/tanium', 'shared/vault', 'shared/actions', 'shared/events', 'shared/alerts'],
      ['shared/tanium/errors.ts'],
    );

    // Assess
    expect(found).toEqual([]);
  });

  it('keeps functions/ to the shared library', () => {
    // Act
    const found = crossings('functions', ['cli', 'infra', 'test', 'bench']);

    // Assess
    expect(found).toEqual([]);
  });

  it.each([
    ['shared/tanium', ['shared/vault', 'shared/actions', 'shared/events', 'shared/alerts']],
    ['shared/vault', ['shared/actions', 'shared/events', 'shared/alerts']],
    ['shared/actions', ['shared/events', 'shared/alerts']],
    ['shared/events', ['shared/alerts']],
  ])('keeps %s from importing the layers above it', (layer, above) => {
    // Act
    const found = crossings(layer, above);

    // Assess
    expect(found).toEqual([]);
  });

  it('finds the imports it checks (a reader that found nothing would pass every rule)', () => {
    // Act
    const imports = projectImports('shared/config/credentials.ts');
    const entry = projectImports('functions/alert-poller/index.ts');

    // Assess
    expect(imports).toContain('shared/tanium/errors.ts');
    expect(imports).toContain('shared/config/is-record.ts');
    expect(entry.some((target) => target.startsWith('shared/alerts/'))).toBe(true);
  });
});
