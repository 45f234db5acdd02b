import { methodMatches, pathMatches } from './matchers.ts';
import type { FaultRule, FaultSpec, Faults } from './types.ts';

/** Fault rules, first added first matched; each match consumes one of its `times`. */
export class FaultRegistry implements Faults {
  private rules: FaultRule[] = [];
  private nextId = 1;

  add(spec: FaultSpec): number {
    const id = this.nextId++;
    this.rules.push({ id, spec, remaining: spec.times ?? null, hits: 0 });
    return id;
  }

  clear(id?: number): void {
    this.rules = id === undefined ? [] : this.rules.filter((rule) => rule.id !== id);
  }

  list(): FaultRule[] {
    return this.rules.map((rule) => ({ ...rule }));
  }

  /** Finds and consumes the fault for one request, if any. */
  take(method: string, path: string, reusedConnection = false): FaultSpec | undefined {
    const rule = this.rules.find(
      (candidate) =>
        methodMatches(candidate.spec.method, method) &&
        pathMatches(candidate.spec.path, path) &&
        (reusedConnection || !candidate.spec.reusedConnectionOnly),
    );
    if (!rule) return undefined;
    rule.hits++;
    if (rule.remaining !== null) {
      rule.remaining--;
      if (rule.remaining <= 0) this.clear(rule.id);
    }
    return rule.spec;
  }
}
