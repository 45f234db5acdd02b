import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';

/** EventBridge's limit for one PutEvents entry, and for the sum of a call's entries. */
export const MAX_ENTRY_BYTES = 256 * 1024;
/**
 * The largest event the stack publishes: EventBridge's entry limit less 1 KiB for the envelope a target
 * receives around the detail (id, account, time, region, resources: a few hundred bytes), so a
 * consumer's SQS queue with the classic 256 KiB message limit takes every result and alert.
 */
export const MAX_EVENT_BYTES = MAX_ENTRY_BYTES - 1024;
/** PutEvents accepts at most 10 entries per call. */
export const MAX_ENTRIES_PER_CALL = 10;

/**
 * The size EventBridge counts for an entry: source, detail type, detail (UTF-8 bytes) and 14 bytes for
 * the time field, which the service adds even when the entry has none.
 */
export function entrySize(entry: Pick<PutEventsRequestEntry, 'Source' | 'DetailType' | 'Detail'>): number {
  return (
    14 +
    Buffer.byteLength(entry.Source ?? '', 'utf8') +
    Buffer.byteLength(entry.DetailType ?? '', 'utf8') +
    Buffer.byteLength(entry.Detail ?? '', 'utf8')
  );
}
