import type { EventType } from '../types.ts';
import { hashString, mulberry32, pick, zoneless } from '../util.ts';
import type { ProcessNode, ProcessTable } from './processes.ts';

export type EventRow = Record<string, unknown>;

const SEEDED_PER_TYPE = 40;
const FIRST_ID = 4611686018470089188n;
// After the 3.3 example rows, so ids and times both grow along each list.
const START_TIME = 1646937100000;

const COMBINED_TYPE: Record<Exclude<EventType, 'combined'>, string> = {
  process: 'Process',
  file: 'File',
  network: 'Network',
  dns: 'DNS',
  registry: 'Registry',
  driver: 'Driver',
  security: 'Security',
  image: 'Image',
};

/** The rows of tanium-api.md 3.3, so tests can rely on known values on test-client-1. */
function exampleRows(): Partial<Record<EventType, EventRow[]>> {
  return {
    process: [
      {
        id: '4611686018470089188',
        pid: 9999,
        process_table_id: '72057594038528503',
        parent_pid: 812,
        parent_process_table_id: '72057594038528500',
        process_path: 'C:\\Windows\\System32\\cmd.exe',
        process_command_line: 'cmd.exe /c whoami',
        user_name: 'bob',
        group_name: 'CORP',
        hash_type_name: 'MD5',
        hash: 'd0956eacc60b294c0e75f4244a99999a',
        create_time: '2022-03-10 18:29:04.398',
        create_time_raw: 1646936944398,
        end_time: null,
        end_time_raw: null,
        exit_code: null,
      },
    ],
    file: [
      {
        id: '4611686018470089201',
        pid: 9999,
        process_table_id: '72057594038528503',
        file: 'C:\\Users\\bob\\AppData\\Local\\Temp\\a.tmp',
        operation: 'Write',
        process_path: 'C:\\Windows\\System32\\cmd.exe',
        user_name: 'bob',
        group_name: 'CORP',
        timestamp: '2022-03-10 18:31:15.002',
        timestamp_raw: 1646937075002,
      },
    ],
    network: [
      {
        id: '4611686018470089230',
        pid: 9999,
        process_table_id: '72057594038528503',
        operation: 'Connect',
        local_address: '10.0.0.5',
        local_address_port: 49822,
        remote_address: '203.0.113.7',
        remote_address_port: 443,
        timestamp: '2022-03-10 18:31:16.250',
        timestamp_raw: 1646937076250,
      },
    ],
    dns: [
      {
        id: '4611686018470089250',
        pid: 9999,
        process_table_id: '72057594038528503',
        operation: 'Query',
        query: 'evil.example.com',
        response: '203.0.113.7',
        timestamp: '2022-03-10 18:31:18.117',
        timestamp_raw: 1646937078117,
      },
    ],
  };
}

const FILES = [
  'C:\\Users\\bob\\AppData\\Local\\Temp\\b.tmp',
  'C:\\Windows\\Temp\\setup.log',
  'C:\\Users\\bob\\Documents\\report.docx',
  'C:\\ProgramData\\x\\cfg.ini',
];
const FILE_OPS = ['Create', 'Write', 'Delete', 'Rename'];
const DOMAINS = ['update.example.org', 'cdn.example.net', 'evil.example.com', 'intranet.corp.example'];
const REMOTES = ['203.0.113.7', '198.51.100.23', '192.0.2.80', '10.0.0.1'];
const KEYS = [
  'HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run',
  'HKCU\\Software\\Classes\\ms-settings\\shell\\open\\command',
  'HKLM\\System\\CurrentControlSet\\Services\\x',
];
const REG_OPS = ['CreateKey', 'SetValue', 'DeleteValue'];
const DRIVERS = [
  'C:\\Windows\\System32\\drivers\\tcpip.sys',
  'C:\\Windows\\System32\\drivers\\ntfs.sys',
  'C:\\Windows\\Temp\\rootkit.sys',
];
const IMAGES = [
  'C:\\Windows\\System32\\kernel32.dll',
  'C:\\Windows\\System32\\ntdll.dll',
  'C:\\Users\\bob\\AppData\\Local\\Temp\\inject.dll',
];
const SECURITY = [
  { event_id: 4624, event_task_name: 'Logon' },
  { event_id: 4625, event_task_name: 'Logon' },
  { event_id: 4688, event_task_name: 'Process Creation' },
];

function hex(random: () => number, length: number): string {
  return Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
}

function makeRow(
  type: Exclude<EventType, 'combined'>,
  id: string,
  time: number,
  actor: ProcessNode,
  random: () => number,
): EventRow {
  const common = { id, pid: actor.pid, process_table_id: actor.process_table_id };
  const stamp = { timestamp: zoneless(time), timestamp_raw: time };
  const who = { process_path: actor.process_path, user_name: actor.user_name, group_name: actor.group_name };
  switch (type) {
    case 'process':
      return {
        ...common,
        parent_pid: 1,
        parent_process_table_id: actor.parent_process_table_id,
        process_path: actor.process_path,
        process_command_line: actor.process_command_line,
        user_name: actor.user_name,
        group_name: actor.group_name,
        hash_type_name: 'MD5',
        hash: actor.process_hash,
        create_time: zoneless(time),
        create_time_raw: time,
        end_time: random() < 0.5 ? zoneless(time + 5000) : null,
        end_time_raw: null,
        exit_code: null,
      };
    case 'file':
      return { ...common, file: pick(random, FILES), operation: pick(random, FILE_OPS), ...who, ...stamp };
    case 'network':
      return {
        ...common,
        operation: pick(random, ['Connect', 'Accept', 'Disconnect']),
        local_address: '10.0.0.5',
        local_address_port: 49152 + Math.floor(random() * 16000),
        remote_address: pick(random, REMOTES),
        remote_address_port: pick(random, [443, 80, 53, 8443]),
        process_path: actor.process_path,
        user_name: actor.user_name,
        ...stamp,
      };
    case 'dns': {
      const query = pick(random, DOMAINS);
      return {
        ...common,
        operation: 'Query',
        query,
        response: pick(random, REMOTES),
        process_path: actor.process_path,
        ...stamp,
      };
    }
    case 'registry':
      return {
        ...common,
        operation: pick(random, REG_OPS),
        key_path: pick(random, KEYS),
        value_name: `v${Math.floor(random() * 9)}`,
        ...who,
        ...stamp,
      };
    case 'driver': {
      const image = pick(random, DRIVERS);
      const signed = !image.includes('Temp');
      return {
        id,
        ImageLoaded: image,
        Hashes: `MD5=${hex(random, 32)},SHA256=${hex(random, 64)}`,
        Signed: signed,
        Signature: signed ? 'Microsoft Windows' : '',
        ...stamp,
      };
    }
    case 'security':
      return {
        id,
        ...pick(random, SECURITY),
        user_name: actor.user_name,
        logon_type: 2,
        source_address: pick(random, REMOTES),
        ...stamp,
      };
    case 'image': {
      const image = pick(random, IMAGES);
      return {
        ...common,
        image_path: image,
        process_path: actor.process_path,
        hash: hex(random, 32),
        Signed: !image.includes('Temp'),
        user_name: actor.user_name,
        ...stamp,
      };
    }
  }
}

export function toCombined(type: Exclude<EventType, 'combined'>, row: EventRow): EventRow {
  const detail: Record<Exclude<EventType, 'combined'>, unknown> = {
    process: row.process_command_line,
    file: row.file,
    network: `${row.remote_address}:${row.remote_address_port}`,
    dns: row.query,
    registry: row.key_path,
    driver: row.ImageLoaded,
    security: row.event_task_name,
    image: row.image_path,
  };
  return {
    id: row.id,
    pid: row.pid ?? null,
    process_table_id: row.process_table_id ?? null,
    type: COMBINED_TYPE[type],
    operation:
      type === 'process' ? 'CreateProcess' : (row.operation ?? (type === 'driver' ? 'Load' : 'Event')),
    detail: detail[type] ?? '',
    timestamp: row.timestamp ?? row.create_time,
    timestamp_raw: row.timestamp_raw ?? row.create_time_raw,
  };
}

/** Recorder events of one endpoint, per type, in recording order; `combined` mirrors the others. */
export class HostEvents {
  readonly rows = new Map<EventType, EventRow[]>();
  private nextId: bigint;
  private lastTime = START_TIME;
  private readonly random: () => number;

  constructor(
    hostname: string,
    private readonly processes: ProcessTable,
  ) {
    this.random = mulberry32(hashString(`events:${hostname}`));
    this.nextId = FIRST_ID + 1000n;
    this.rows.set('combined', []);
    const examples = hostname === 'test-client-1' ? exampleRows() : {};
    for (const type of Object.keys(COMBINED_TYPE) as Exclude<EventType, 'combined'>[]) {
      this.rows.set(type, [...(examples[type] ?? [])]);
      for (const row of examples[type] ?? []) this.rows.get('combined')!.push(toCombined(type, row));
      this.generate(type, SEEDED_PER_TYPE);
    }
    this.rows.get('combined')!.sort((a, b) => Number(a.timestamp_raw) - Number(b.timestamp_raw));
  }

  /** Appends `count` rows of a type (`combined`: spread over the other types), later than every existing row. */
  generate(type: EventType, count: number): EventRow[] {
    const actors = this.processes.actors();
    const created: EventRow[] = [];
    const types = Object.keys(COMBINED_TYPE) as Exclude<EventType, 'combined'>[];
    for (let i = 0; i < count; i++) {
      const rowType = type === 'combined' ? types[i % types.length]! : type;
      this.lastTime += 1 + Math.floor(this.random() * 2000);
      const row = makeRow(
        rowType,
        (this.nextId++).toString(),
        this.lastTime,
        pick(this.random, actors),
        this.random,
      );
      this.rows.get(rowType)!.push(row);
      this.rows.get('combined')!.push(toCombined(rowType, row));
      created.push(type === 'combined' ? toCombined(rowType, row) : row);
    }
    return created;
  }

  of(type: EventType): EventRow[] {
    return this.rows.get(type) ?? [];
  }
}
