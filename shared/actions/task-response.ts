/**
 * `taskInfo.id` of an asynchronous task response (`{status, taskInfo}` from create snapshot and save
 * file), as Tanium sent it: a number today, a string passes through unchanged; null when absent.
 */
export function taskIdOf(payload: unknown): unknown {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return null;
  const taskInfo = (payload as { taskInfo?: unknown }).taskInfo;
  if (!taskInfo || typeof taskInfo !== 'object' || Array.isArray(taskInfo)) return null;
  const id = (taskInfo as { id?: unknown }).id;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}
