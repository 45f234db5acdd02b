import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Fenced code blocks hold examples, not headings or links. */
function withoutCode(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const text = withoutCode(markdown);
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading ?? '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const [, id] of text.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(id ?? '');
  return anchors;
}

/** Links to this repository: `[text](target)` outside code, not to another site. */
function localLinks(markdown: string): string[] {
  const text = withoutCode(markdown).replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map(([, target]) => target ?? '')
    .filter((target) => !/^[a-z]+:/i.test(target));
}

/**
 * What in `file` (a path from the repository's root) points nowhere: a missing file, or an anchor its
 * target has no heading for.
 */
function brokenLinks(file: string, markdown = readFileSync(join(root, file), 'utf8')): string[] {
  return localLinks(markdown).filter((target) => {
    const [path = '', anchor] = target.split('#');
    if (path === '') return !anchorsOf(markdown).has(anchor ?? '');
    const resolved = join(dirname(join(root, file)), path);
    if (!existsSync(resolved)) return true;
    if (anchor === undefined || !resolved.endsWith('.md')) return false;
    return !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor);
  });
}

/** The repository's Markdown files, dependencies, build output and dot-folders left out (not walked). */
function markdownFiles(dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const skipped = entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'cdk.out';
      return skipped ? [] : markdownFiles(path);
    }
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

describe('links in the Markdown files', () => {
  it('names headings the way GitHub does, numbering a repeated one', () => {
    const anchors = anchorsOf(
      '# Quick start\n## Events, results and failures\n#### get file (`get_file`)\n## Quick start\n```\n# not a heading\n```\n<a id="get_file"></a>\n',
    );

    expect([...anchors].sort()).toEqual([
      'events-results-and-failures',
      'get-file-get_file',
      'get_file',
      'quick-start',
      'quick-start-1',
    ]);
  });

  it('finds a link to a missing heading or file, and none in code or to another site', () => {
    const markdown =
      '# Deploying\nSee [here](#deploying), [there](#nowhere), [docs](docs/none.md), [vault](shared/vault/README.md#no-such-heading), [alerts](shared/alerts/README.md), [site](https://example.com) and `[x](#code)`.\n```\n[y](#fenced)\n```\n';

    expect(brokenLinks('README.md', markdown)).toEqual([
      '#nowhere',
      'docs/none.md',
      'shared/vault/README.md#no-such-heading',
    ]);
  });

  it('every link in a Markdown file of the repository reaches its file and heading', () => {
    const files = markdownFiles();

    expect(files).toEqual(
      expect.arrayContaining(['README.md', 'BENCHMARKS.md', join('shared', 'vault', 'README.md')]),
    );
    expect(Object.fromEntries(files.map((file) => [file, brokenLinks(file)]))).toEqual(
      Object.fromEntries(files.map((file) => [file, []])),
    );
    expect(
      files.flatMap((file) => localLinks(readFileSync(join(root, file), 'utf8'))).length,
    ).toBeGreaterThan(50);
  });
});
