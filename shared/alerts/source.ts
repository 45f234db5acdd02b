import { isRecord } from '../config/is-record.ts';
import { listAlertsPage } from '../tanium/alerts.ts';
import type { TaniumApi } from '../tanium/client.ts';
import { segment, TR } from '../tanium/routes.ts';
import type { AlertSource, SourcePage } from './types.ts';

const ACTION = 'alert poller';

/**
 * Tanium as the poller's alert source: `GET TR/alerts?limit&offset&sort=-createdAt&<filters>`. The sort
 * is sent explicitly because it is the only order the poller may rely on (tanium-api.md 4.8).
 */
export class TaniumAlertSource implements AlertSource {
  constructor(
    private readonly client: TaniumApi,
    private readonly filterPairs: ReadonlyArray<readonly [string, string]> = [],
  ) {}

  async page(offset: number, limit: number, deadline: number): Promise<SourcePage> {
    const page = await listAlertsPage(this.client, {
      limit,
      offset,
      pairs: [['sort', '-createdAt'], ...this.filterPairs],
      deadline,
      action: ACTION,
      placeholders: true,
    });
    // totalCount counts every alert, also those the filters hide: the list's length only when there are
    // no filters. With filters it would let the floor search take hidden alerts for listed ones.
    const total = this.filterPairs.length === 0 ? page.meta?.totalCount : undefined;
    const count = page.meta?.filteredCount ?? total;
    const result: SourcePage = { alerts: page.alerts };
    if (typeof count === 'number' && Number.isFinite(count)) result.filteredCount = count;
    // Only the matching count can say the list goes on: totalCount also counts what the filters hide.
    const matching = page.meta?.filteredCount;
    if (typeof matching === 'number') {
      if (offset + page.alerts.length < matching) result.more = true;
    } else if (result.filteredCount !== undefined) result.totalOnly = true;
    return result;
  }

  /** `GET TR/intels/{id}`: the intel doc's `name`. */
  async intelDocName(id: string, deadline: number): Promise<string | undefined> {
    const response = await this.client.request({
      method: 'GET',
      path: `${TR}/intels/${segment('intelDocId', id)}`,
      deadline,
      action: ACTION,
      permission: 'threat response use api',
    });
    const name = isRecord(response.payload) ? response.payload.name : undefined;
    return typeof name === 'string' ? name : undefined;
  }
}
