import { ALERTS_READ, enrichAlert, listAlertsPage, parseAlertQuery } from '../tanium/alerts.ts';
import { ValidationError } from '../tanium/errors.ts';
import { query } from '../tanium/routes.ts';
import { integer, optionalText, urlValueProblem } from './params.ts';
import { defineAction } from './types.ts';

/** The alerts family (tanium-api.md 2.20). */

/** The query's pairs; a query malformed or too long for the URL is a validation failure. */
function queryPairs(text: string | undefined): Array<[string, string]> {
  const pairs = parseAlertQuery(text);
  // Measured as sent: parsed and encoded again, its `&`, `=` and escapes do not cost what they do raw.
  const problem =
    text === undefined ? undefined : urlValueProblem('query', text, () => query(pairs).toString().length);
  if (problem !== undefined) throw new ValidationError(problem);
  return pairs;
}

export const listAlerts = defineAction({
  name: 'list alerts',
  id: 'list_alerts',
  family: 'alerts',
  readOnly: true,
  description: 'Lists Threat Response alerts, filtered by a URL-style query, with path, type and hashes.',
  permission: ALERTS_READ,
  // The connector's placeholder: ported playbooks send it, and it means nothing.
  placeholders: ['ph'],
  params: {
    query: optionalText('query', {
      trim: false,
      description:
        'Filters as a URL query, e.g. state=unresolved&state=inprogress&priority=high (repeat state for OR: the API takes alternatives for state alone, another key given twice may count once); white space around a key or value, a key that is no filter name (an &amp; copied from HTML, a whole URL) and escapes that are not UTF-8 are refused, limit and offset in it are ignored (the parameters win)',
    }),
    limit: integer('limit', { default: 100, description: 'Maximum number of alerts to return' }),
    offset: integer('offset', { default: 0, allowZero: true, description: 'Number of alerts to skip' }),
  },
  check(params) {
    queryPairs(params.query);
  },
  async run(ctx, params) {
    const pairs = queryPairs(params.query);
    const page = await listAlertsPage(ctx.client, {
      limit: params.limit,
      offset: params.offset,
      pairs,
      deadline: ctx.deadline,
      action: 'list alerts',
    });
    const data = page.alerts.map(enrichAlert);
    const summary: Record<string, unknown> = {};
    if (page.meta) {
      if (page.meta.totalCount !== undefined) summary.totalCount = page.meta.totalCount;
      if (page.meta.filteredCount !== undefined) summary.filteredCount = page.meta.filteredCount;
    }
    summary.total_alerts = data.length;
    return { message: 'Listed alerts successfully', data, summary };
  },
});

export const alertActions = [listAlerts];
