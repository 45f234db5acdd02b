import { badRequest, json, notFound, parseJson, type Reply } from './http.ts';
import { matchesFilter } from './request-log.ts';
import type { AlertInput } from './state/alerts.ts';
import { applySwitches } from './switches.ts';
import { type Emulator, EVENT_TYPES, type EventType, type FaultSpec, type RequestFilter } from './types.ts';

type Body = Record<string, unknown>;

function filterFrom(query: URLSearchParams): RequestFilter {
  const filter: RequestFilter = {};
  const method = query.get('method');
  const path = query.get('path');
  const pathRegex = query.get('pathRegex');
  const status = query.get('status');
  if (method) filter.method = method;
  if (path) filter.path = path;
  if (pathRegex) filter.path = new RegExp(pathRegex);
  if (status) filter.status = Number(status);
  return filter;
}

function numberList(value: unknown): number[] | undefined {
  return Array.isArray(value) ? value.map(Number) : undefined;
}

function addAlerts(emulator: Emulator, body: Body): Reply {
  const alerts = emulator.state.alerts;
  const template = (body.template ?? {}) as AlertInput;
  const steady = body.steady as { count: number; spacingMs: number; startAt?: number } | undefined;
  const burst = body.burst as { count: number; at?: number } | undefined;
  const outOfOrder = body.outOfOrder as { count: number; stepMs?: number } | undefined;
  const backlog = body.backlog as { count: number; spacingMs?: number; endAt?: number } | undefined;
  let added = 0;
  if (Array.isArray(body.alerts)) added += alerts.add(body.alerts as AlertInput[]).length;
  if (typeof body.count === 'number')
    added += alerts.add(Array.from({ length: body.count }, () => ({ ...template }))).length;
  if (steady) added += alerts.addSteady(steady.count, steady.spacingMs, steady.startAt, template);
  if (burst) added += alerts.addBurst(burst.count, burst.at, template).length;
  if (outOfOrder) added += alerts.addOutOfOrder(outOfOrder.count, outOfOrder.stepMs, template).length;
  if (backlog) added += alerts.addBacklog(backlog.count, backlog.spacingMs, backlog.endAt);
  return json(200, { added, total: alerts.size });
}

/**
 * `/__emulator/*`: the control surface for the CLI and other processes. No session needed; never part
 * of the request log or of faults, because the client under test never calls it.
 */
export function handleControl(
  emulator: Emulator,
  method: string,
  path: string,
  query: URLSearchParams,
  raw: Buffer,
): Reply {
  const body = (parseJson(raw) ?? {}) as Body;
  const state = emulator.state;
  const route = `${method} ${path}`;
  switch (route) {
    case 'POST reset':
      emulator.reset({ seed: body.seed !== false });
      return json(200, { ok: true });
    case 'GET state':
      return json(200, {
        now: emulator.clock.now(),
        connections: state.connections.list().map((record) => state.connections.toJson(record)),
        tasks: state.tasks.list().map((task) => state.tasks.toJson(task)),
        snapshots: state.snapshots.length,
        files: state.files.length,
        alerts: state.alerts.size,
        scans: state.scans.scans.length,
        intels: state.intels.revisions.length,
      });
    case 'GET clock':
      return json(200, { now: emulator.clock.now(), mode: emulator.clock.mode });
    case 'POST clock':
      if (typeof body.set === 'number') emulator.clock.set(body.set);
      if (typeof body.advance === 'number') emulator.clock.advance(body.advance);
      return json(200, { now: emulator.clock.now(), mode: emulator.clock.mode });
    case 'GET switches':
      return json(200, emulator.switches);
    case 'POST switches': {
      const unknown = applySwitches(emulator.switches, body);
      return unknown.length > 0
        ? badRequest(`Unknown switches: ${unknown.join(', ')}`)
        : json(200, emulator.switches);
    }
    case 'GET faults':
      return json(
        200,
        emulator.faults
          .list()
          .map((rule) => ({ ...rule, spec: { ...rule.spec, path: String(rule.spec.path ?? '') } })),
      );
    case 'POST faults': {
      const spec = { ...body } as unknown as FaultSpec & { pathRegex?: string };
      if (typeof spec.pathRegex === 'string') spec.path = new RegExp(spec.pathRegex);
      delete spec.pathRegex;
      if (typeof spec.kind !== 'string') return badRequest('A fault needs a kind');
      return json(200, { id: emulator.faults.add(spec) });
    }
    case 'DELETE faults': {
      const id = query.get('id');
      emulator.faults.clear(id === null ? undefined : Number(id));
      return json(200, { ok: true });
    }
    case 'GET requests':
      return json(
        200,
        emulator.requests.filter((entry) => matchesFilter(entry, filterFrom(query))),
      );
    case 'DELETE requests':
      emulator.clearRequests();
      return json(200, { ok: true });
    case 'GET requests/count':
      return json(200, {
        count: emulator.requestCount(filterFrom(query)),
        connections: emulator.connectionCount,
      });
    case 'GET credentials':
      return json(200, emulator.credentials);
    case 'POST credentials/expire-token':
      emulator.expireToken(typeof body.token === 'string' ? body.token : undefined);
      return json(200, { ok: true });
    case 'POST credentials/expire-sessions':
      emulator.expireAllSessions();
      return json(200, { ok: true });
    case 'POST credentials/trusted-ips':
      if (!Array.isArray(body.ips)) return badRequest('ips must be an array');
      emulator.setTrustedIps(body.ips.map(String), typeof body.token === 'string' ? body.token : undefined);
      return json(200, { ok: true });
    case 'POST credentials/remove-permission':
      emulator.removePermission(String(body.persona ?? 'full'), String(body.permission));
      return json(200, { ok: true });
    case 'GET tasks':
      return json(
        200,
        state.tasks.list().map((task) => state.tasks.toJson(task)),
      );
    case 'POST tasks/complete':
      return json(200, { completed: emulator.completeTasks(numberList(body.ids)) });
    case 'POST tasks/fail':
      return json(200, {
        failed: emulator.failTask(Number(body.id), typeof body.error === 'string' ? body.error : undefined),
      });
    case 'POST alerts':
      return addAlerts(emulator, body);
    case 'POST alerts/prune':
      return json(200, { pruned: emulator.pruneAlerts(Number(body.olderThanMs)) });
    case 'POST alerts/retention':
      state.alerts.retentionMs = typeof body.retentionMs === 'number' ? body.retentionMs : null;
      return json(200, { retentionMs: state.alerts.retentionMs });
    case 'POST alerts/state':
      return json(200, { changed: state.alerts.setState(numberList(body.ids) ?? [], String(body.state)) });
    case 'POST events/generate': {
      const type = String(body.type) as EventType;
      if (!(EVENT_TYPES as readonly string[]).includes(type))
        return badRequest(`Unknown event type: ${type}`);
      const rows = emulator.generateEvents(String(body.connectionId), type, Number(body.count ?? 1));
      return json(200, { generated: rows.length });
    }
    case 'GET scans':
      return json(200, state.scans.scans);
    case 'GET intels':
      return json(200, { docs: [...state.intels.docs.values()], revisions: state.intels.revisions });
    default:
      return notFound();
  }
}
