export interface DecEndpoint {
  clientId: string;
  hostname: string;
  ip: string;
  platform: string;
  configured: boolean;
  installed: boolean;
  ready: boolean;
  status: string | null;
  count: number | null;
}

export interface EndpointRecord {
  endpoint: DecEndpoint;
  /** A connection to an unreachable endpoint waits and then times out. */
  reachable: boolean;
}

function endpoint(
  clientId: string,
  hostname: string,
  ip: string,
  platform: string,
  reachable = true,
): EndpointRecord {
  return {
    endpoint: {
      clientId,
      hostname,
      ip,
      platform,
      configured: true,
      installed: true,
      ready: reachable,
      status: reachable ? null : 'offline',
      count: null,
    },
    reachable,
  };
}

/** Registration order matters: the newest registration of a shared hostname comes last. */
export function seedEndpoints(): EndpointRecord[] {
  return [
    endpoint('2029399999', 'test-client-1', '10.0.0.5', 'Windows'),
    endpoint('3380012345', 'web-02', '10.0.0.9', 'Linux'),
    endpoint('4000000001', 'offline-01', '10.0.0.30', 'Windows', false),
    endpoint('1111111111', 'dup-host', '10.0.0.20', 'Windows'),
    endpoint('5550001234', 'MixedCase-PC', '10.0.0.40', 'Mac'),
    endpoint('1111111112', 'dup-host', '10.0.0.21', 'Windows'),
    endpoint('6660000001', 'db-01', '10.0.1.10', 'Linux'),
  ];
}

/** DEC lookup: every given key must match exactly, hostname case-insensitively. */
export function findEndpoints(
  records: readonly EndpointRecord[],
  query: { hostname?: string; ip?: string; clientId?: string },
): DecEndpoint[] {
  return records
    .map((record) => record.endpoint)
    .filter(
      (row) =>
        (query.hostname === undefined || row.hostname.toLowerCase() === query.hostname.toLowerCase()) &&
        (query.ip === undefined || row.ip === query.ip) &&
        (query.clientId === undefined || row.clientId === query.clientId),
    );
}
