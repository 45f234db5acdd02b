export interface OnDemandScan {
  id: number;
  intelDocId: number;
  computerGroupId: number;
  userId: number;
  createdAt: string;
  updatedAt: string;
  actionExpiration: string;
  actionIdUnix: number;
  actionIdWindows: number;
}

/** Every scan started, so tests can assert that a retry or replay did not start a second one. */
export class ScanStore {
  readonly scans: OnDemandScan[] = [];
  private nextId = 1000509;
  private nextAction = 123456;

  clear(): void {
    this.scans.length = 0;
    this.nextId = 1000509;
    this.nextAction = 123456;
  }

  start(intelDocId: number, computerGroupId: number, now: number): OnDemandScan {
    const at = new Date(now).toISOString();
    const expiration = new Date(Math.floor((now + 3_600_000) / 1000) * 1000).toISOString();
    const windows = this.nextAction++;
    const unix = this.nextAction++;
    const scan: OnDemandScan = {
      id: this.nextId++,
      intelDocId,
      computerGroupId,
      userId: 2,
      createdAt: at,
      updatedAt: at,
      actionExpiration: expiration,
      actionIdUnix: unix,
      actionIdWindows: windows,
    };
    this.scans.push(scan);
    return scan;
  }
}
