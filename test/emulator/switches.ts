import type { Switches } from './types.ts';

export const DEFAULT_SWITCHES: Readonly<Switches> = Object.freeze({
  loginRoute404: false,
  connectTextPlain: false,
  eventsCountEmptyBody: false,
  groupsByNameEmptyData: false,
  alertsSameMsLowestIdFirst: false,
  alertsMaxLimit: 0,
  alertsBareArray: false,
  taskFailure: false,
  downloadNoContentDisposition: false,
  downloadOctetStream: false,
  downloadChunked: false,
  downloadMultipleEntries: false,
  downloadDataDescriptor: false,
  downloadEntryName: null,
  downloadArchive: 'zipcrypto',
  downloadLargeFileBytes: 0,
  downloadLargeFileMethod: 'store',
  downloadJson200: false,
  downloadStallMidBody: false,
  eventsRange400: true,
});

export function createSwitches(overrides: Partial<Switches> = {}): Switches {
  return { ...DEFAULT_SWITCHES, ...overrides };
}

/** Applies known keys only, so a typo over HTTP is reported instead of silently ignored. */
export function applySwitches(target: Switches, patch: Record<string, unknown>): string[] {
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in DEFAULT_SWITCHES)) {
      unknown.push(key);
      continue;
    }
    (target as unknown as Record<string, unknown>)[key] = value;
  }
  return unknown;
}

export function resetSwitches(target: Switches, overrides: Partial<Switches> = {}): void {
  Object.assign(target, DEFAULT_SWITCHES, overrides);
}
