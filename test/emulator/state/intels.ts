import { createHash } from 'node:crypto';
import { iso } from '../util.ts';

export interface IntelDoc {
  id: number;
  name: string;
  description: string | null;
  type: string;
  typeVersion: string;
  intrinsicId: string;
  md5: string;
  size: number;
  revisionId: number;
  sourceId: number;
  isSchemaValid: boolean;
  contents?: string;
  createdAt: string;
  updatedAt: string;
}

const TYPES: Record<string, { type: string; typeVersion: string }> = {
  yara: { type: 'yara', typeVersion: '4' },
  yar: { type: 'yara', typeVersion: '4' },
  ioc: { type: 'openioc', typeVersion: '1.1' },
  stix: { type: 'stix', typeVersion: '1.2' },
  xml: { type: 'stix', typeVersion: '1.2' },
};

export function intelTypeFor(name: string): { type: string; typeVersion: string } | undefined {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? undefined : TYPES[name.slice(dot + 1).toLowerCase()];
}

/** Intel documents keyed by id; a second upload of a name (its intrinsicId) is a new revision of the same id. */
export class IntelStore {
  readonly docs = new Map<number, IntelDoc>();
  /** Every revision ever uploaded, for tests that count uploads. */
  readonly revisions: IntelDoc[] = [];
  private nextId = 527;

  clear(): void {
    this.docs.clear();
    this.revisions.length = 0;
    this.nextId = 527;
  }

  upload(name: string, body: Buffer, now: number): IntelDoc {
    const kind = intelTypeFor(name)!;
    const existing = [...this.docs.values()].find((doc) => doc.intrinsicId === name);
    const at = iso(now);
    const doc: IntelDoc = {
      id: existing?.id ?? this.nextId++,
      name,
      description: null,
      ...kind,
      intrinsicId: name,
      md5: createHash('md5').update(body).digest('hex'),
      size: body.length,
      revisionId: (existing?.revisionId ?? 0) + 1,
      sourceId: 1,
      isSchemaValid: true,
      ...(kind.type === 'yara' ? { contents: body.toString('utf8') } : {}),
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    };
    this.docs.set(doc.id, doc);
    this.revisions.push(doc);
    return doc;
  }

  seed(): void {
    const doc = this.upload(
      'seeded_rule.yara',
      Buffer.from('rule Seeded { strings: $a = "evil" condition: $a }'),
      Date.parse('2021-11-01T00:00:00.000Z'),
    );
    this.docs.delete(doc.id);
    this.revisions.length = 0;
    this.docs.set(11, { ...doc, id: 11 });
    this.nextId = 527;
  }
}
