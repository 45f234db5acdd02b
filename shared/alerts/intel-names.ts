import type { Alert } from '../tanium/alerts.ts';
import { toTaniumError } from '../tanium/errors.ts';
import { shownAlertId } from './alert-event.ts';
import type { RunContext } from './run-context.ts';

/** The intel doc names of the optional enrichment, each looked up at most once a run. */
export class IntelNames {
  private readonly names = new Map<string, string | undefined>();

  constructor(private readonly run: RunContext) {}

  async of(alert: Alert): Promise<string | undefined> {
    const { source } = this.run.deps;
    if (!this.run.settings.enrichIntelNames || !source.intelDocName) return undefined;
    const id = alert.intelDocId;
    if (id === undefined || id === null || id === '') return undefined;
    const key = String(id);
    if (this.names.has(key)) return this.names.get(key);
    // Cached even when it fails: one slow or missing intel doc must not cost a request per alert.
    this.names.set(key, undefined);
    if (this.run.clock() >= this.run.deps.stopAt) return undefined;
    this.run.report.intelRequests++;
    try {
      const name = await source.intelDocName(key, this.run.deps.stopAt);
      this.names.set(key, name);
      return name;
    } catch (error) {
      this.run.deps.logger.warn('Intel doc name lookup failed; alerts are published without it', {
        // Tanium's text, unchecked: cut as an alert's own id is, or a long one would split the line.
        intelDocId: shownAlertId(key),
        error: toTaniumError(error).message,
      });
      return undefined;
    }
  }
}
