import type { Alert } from '../tanium/alerts.ts';
import type { AlertId } from './types.ts';

/** An alert read at or above the floor and not yet published: what orders it for publishing. */
export interface Candidate {
  alert: Alert;
  key: string;
  ts: number;
  /** Position in the group cursor's millisecond (GroupTrack), once known: its publishing order. */
  rank?: number;
}

/**
 * The id that makes an alert unique (Tanium's `id`, else its `guid`). Only a number or a non-empty string
 * is one: any object would become "[object Object]", and every alert after the first would pass for it.
 */
export function alertKey(alert: Alert): string | undefined {
  return usableKey(alert.id) ?? usableKey(alert.guid);
}

function usableKey(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The id as the checkpoint keeps it: Tanium's numeric id as a number, else the key. */
export function storedId(alert: Alert, key: string): AlertId {
  return typeof alert.id === 'number' ? alert.id : key;
}

function compareKeys(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Publishing order: by createdAt, then position in the group cursor's millisecond, then id. */
export function oldestFirst(a: Candidate, b: Candidate): number {
  const byRank = a.rank !== undefined && b.rank !== undefined ? a.rank - b.rank : 0;
  return a.ts - b.ts || byRank || compareKeys(a.key, b.key);
}
