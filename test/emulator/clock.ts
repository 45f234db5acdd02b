import type { Clock, ClockMode } from './types.ts';

export const DEFAULT_START_TIME = Date.parse('2024-01-15T10:00:00.000Z');

/**
 * A manual clock only moves when told to, so state transitions (connections, tasks, alert arrival) are
 * deterministic; the real clock follows Date.now() plus whatever offset advance/set introduced.
 */
export function createClock(mode: ClockMode, start?: number): Clock {
  if (mode === 'manual') {
    let current = start ?? DEFAULT_START_TIME;
    return {
      mode,
      now: () => current,
      advance: (ms) => {
        current += ms;
        return current;
      },
      set: (ms) => {
        current = ms;
        return current;
      },
    };
  }
  let offset = start === undefined ? 0 : start - Date.now();
  return {
    mode,
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms;
      return Date.now() + offset;
    },
    set: (ms) => {
      offset = ms - Date.now();
      return ms;
    },
  };
}
