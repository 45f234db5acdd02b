import { credentialFingerprint } from '../config/credentials.ts';
import { shown } from '../config/message-text.ts';
import { setMostRecent } from '../config/recent-map.ts';
import { TaniumError, ValidationError } from '../tanium/errors.ts';
import { API_V2, segment, TR } from '../tanium/routes.ts';
import { requiredInteger, requiredNameOrId } from './params.ts';
import { type ActionContext, defineAction } from './types.ts';
import { uploadIntelDoc } from './upload-intel-doc.ts';

/** The intel family (tanium-api.md 2.18-2.19). */

const SCANS_WRITE = 'threat response on demand scans write';
const GROUPS_READ = 'read access to computer groups';

export const GROUP_CACHE_TTL_MS = 5 * 60 * 1000;

/**
 * Resolutions kept at once, the least recently used forgotten first: a container meets a handful of
 * groups, but each spelling of an input is its own entry ('1', '01', '001' up to the URL limit all name
 * group 1), and a pipeline sending many would otherwise grow the cache for five minutes at a time.
 */
export const MAX_CACHED_GROUPS = 256;

interface CachedGroup {
  id: number;
  expires: number;
}

// Per container: warm invocations skip the group lookup, and a changed secret (another fingerprint)
// never sees another credential's groups. Only successes are kept, so a fixed typo or a newly granted
// permission takes effect at once.
const groupCache = new Map<string, CachedGroup>();

/** Forgets every cached group resolution (tests). */
export function clearGroupCache(): void {
  groupCache.clear();
}

function noGroup(input: string): TaniumError {
  return new TaniumError(
    'not_found',
    `No group exists with name ${shown(input)}. Also, please verify that your account has sufficient permissions to access the groups`,
  );
}

/** `data.id` of a group lookup, or undefined when Tanium answered no usable group. */
function groupIdOf(payload: unknown): number | undefined {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const id = (payload as { id?: unknown }).id;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : undefined;
}

/** A 404 of the group route itself (a failed login carries kind `auth`, whatever its status). */
function isNotFound(error: unknown): boolean {
  return error instanceof TaniumError && error.kind === 'not_found' && error.status === 404;
}

async function getGroup(ctx: ActionContext, path: string): Promise<unknown> {
  const response = await ctx.client.request({
    method: 'GET',
    path,
    deadline: ctx.deadline,
    action: 'start quick scan',
    // No documented permission name covers the group routes: naming one would send admins after a name
    // that exists only in the emulator (tanium-api.md 1.2, 4.1). What they need is a platform right
    // (2.19), not a Threat Response permission.
    access: GROUPS_READ,
  });
  return response.payload;
}

async function groupByName(ctx: ActionContext, name: string, input: string): Promise<unknown> {
  try {
    return await getGroup(ctx, `${API_V2}/groups/by-name/${segment('computer_group_name', name)}`);
  } catch (error) {
    if (isNotFound(error)) throw noGroup(input);
    throw error;
  }
}

/**
 * The computer group id for a name or a numeric id. Digits are tried as a management-rights group id
 * first and as a name only when that id does not exist (404): a 403 or 5xx is a real failure, and
 * falling back on it would resolve a different group than the one meant.
 */
async function resolveGroup(ctx: ActionContext, input: string, numericId: number | undefined) {
  const now = ctx.now ?? Date.now;
  const key = `${credentialFingerprint(ctx.client.credentials)}\n${input}`;
  const cached = groupCache.get(key);
  if (cached && cached.expires > now()) {
    setMostRecent(groupCache, key, cached, MAX_CACHED_GROUPS);
    return cached.id;
  }

  let payload: unknown;
  if (numericId !== undefined) {
    try {
      payload = await getGroup(
        ctx,
        `${API_V2}/management_rights_groups/${segment('computer_group_name', numericId)}`,
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
      payload = await groupByName(ctx, input, input);
    }
  } else {
    payload = await groupByName(ctx, input, input);
  }
  const id = groupIdOf(payload);
  if (id === undefined) throw noGroup(input);

  const at = now();
  // Expired entries go before used ones; swept only at the bound, as an insert would otherwise walk them all.
  if (groupCache.size >= MAX_CACHED_GROUPS) {
    for (const [entryKey, entry] of groupCache) if (entry.expires <= at) groupCache.delete(entryKey);
  }
  setMostRecent(groupCache, key, { id, expires: at + GROUP_CACHE_TTL_MS }, MAX_CACHED_GROUPS);
  return id;
}

/** The numeric reading of an all-digit group input (1.9), or undefined for a name. */
function numericGroupId(input: string): number | undefined {
  if (!/^[0-9]+$/.test(input)) return undefined;
  const id = Number(input);
  if (!Number.isSafeInteger(id)) {
    throw new ValidationError('Please provide a valid integer value in the computer_group_name parameter');
  }
  return id;
}

function scanIdOf(scan: unknown): unknown {
  if (!scan || typeof scan !== 'object' || Array.isArray(scan)) return null;
  const id = (scan as { id?: unknown }).id;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}

export const startQuickScan = defineAction({
  name: 'start quick scan',
  id: 'start_quick_scan',
  family: 'intel',
  readOnly: false,
  description: 'Scans a computer group with an intel document (on-demand scan).',
  permission: SCANS_WRITE,
  params: {
    intel_doc_id: requiredInteger('intel_doc_id', { description: 'Id of the intel document to scan with' }),
    computer_group_name: requiredNameOrId('computer_group_name', {
      description: 'Name of the computer group, or its numeric id',
      inUrl: 'path',
    }),
  },
  check(params) {
    // An all-digit input too large for an id is a parameter error.
    numericGroupId(params.computer_group_name);
  },
  async run(ctx, params) {
    const input = params.computer_group_name;
    const numericId = numericGroupId(input);
    const groupId = await resolveGroup(ctx, input, numericId);
    // POSTs are never retried after they may have reached Tanium (client rule), so one request starts
    // at most one scan.
    const response = await ctx.client.request({
      method: 'POST',
      path: `${TR}/on-demand-scans`,
      json: { intelDocId: params.intel_doc_id, computerGroupId: groupId },
      deadline: ctx.deadline,
      action: 'start quick scan',
      permission: SCANS_WRITE,
    });
    const scan = response.payload;
    return {
      message: 'Started quick scan successfully',
      // The connector returned the whole response with its `data` wrapper (playbooks read
      // `data.*.data.id`), `meta` included when Tanium sends one; a bare response is wrapped.
      data: [response.meta === undefined ? { data: scan } : { data: scan, meta: response.meta }],
      summary: { scan_id: scanIdOf(scan), computer_group_id: groupId },
    };
  },
});

export const intelActions = [uploadIntelDoc, startQuickScan];
