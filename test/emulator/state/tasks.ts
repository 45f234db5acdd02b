import type { Clock, EmulatorConfig } from '../types.ts';
import { iso } from '../util.ts';

export type TaskStatus = 'STARTED' | 'COMPLETED' | 'FAILED';

export interface TaskRecord {
  id: number;
  type: 'snapshot' | 'fileDownload';
  status: TaskStatus;
  metadata: Record<string, unknown>;
  results: Record<string, unknown> | null;
  error: string | null;
  startTime: number;
  endTime: number | null;
  dueAt: number;
  /** Produces the task's results at completion time (and the snapshot or evidence it leaves); throws to fail. */
  finish: (at: number) => Record<string, unknown>;
  /** Failure decided in advance (a path absent on the endpoint, or failTask). */
  failWith?: string;
  failedResults?: Record<string, unknown>;
}

/** Snapshot and file tasks: STARTED until taskDurationMs has passed on the clock (checked lazily). */
export class TaskStore {
  private records = new Map<number, TaskRecord>();
  private nextId = 1390;

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
    private readonly globalFailure: () => boolean | string,
  ) {}

  clear(): void {
    this.records.clear();
    this.nextId = 1390;
  }

  create(input: Pick<TaskRecord, 'type' | 'metadata' | 'finish' | 'failWith' | 'failedResults'>): TaskRecord {
    const now = this.clock.now();
    const task: TaskRecord = {
      ...input,
      id: this.nextId++,
      status: 'STARTED',
      results: null,
      error: null,
      startTime: now,
      endTime: null,
      dueAt: now + this.config.taskDurationMs,
    };
    this.records.set(task.id, task);
    return task;
  }

  get(id: number): TaskRecord | undefined {
    return this.records.get(id);
  }

  list(): TaskRecord[] {
    return [...this.records.values()];
  }

  /** Completes every task that is due; called at the start of each request. */
  tick(now = this.clock.now()): void {
    for (const task of this.records.values())
      if (task.status === 'STARTED' && task.dueAt <= now) this.settle(task, task.dueAt);
  }

  /** Completes the given tasks (default: every started task) now, whatever their due time. */
  complete(ids?: number[]): number[] {
    const done: number[] = [];
    for (const task of this.records.values()) {
      if (task.status !== 'STARTED' || (ids && !ids.includes(task.id))) continue;
      this.settle(task, this.clock.now());
      done.push(task.id);
    }
    return done;
  }

  /** Fails a started task now (or marks it to fail when it would complete, if `atDue`). */
  fail(id: number, error = 'Task failed', atDue = false): boolean {
    const task = this.records.get(id);
    if (task?.status !== 'STARTED') return false;
    task.failWith = error;
    if (!atDue) this.settle(task, this.clock.now());
    return true;
  }

  private settle(task: TaskRecord, at: number): void {
    task.endTime = at;
    const global = this.globalFailure();
    const failure =
      task.failWith ?? (global === false ? undefined : global === true ? 'Task failed' : global);
    if (failure !== undefined) {
      task.status = 'FAILED';
      task.error = failure;
      task.results = task.failedResults ?? { completed: [], failed: [] };
      return;
    }
    try {
      task.results = task.finish(at);
      task.status = 'COMPLETED';
    } catch (error) {
      task.status = 'FAILED';
      task.error = error instanceof Error ? error.message : String(error);
      task.results = task.failedResults ?? { completed: [], failed: [] };
    }
  }

  toJson(task: TaskRecord): Record<string, unknown> {
    return {
      id: task.id,
      type: task.type,
      status: task.status,
      metadata: task.metadata,
      results: task.results,
      error: task.error,
      startTime: iso(task.startTime),
      endTime: task.endTime === null ? null : iso(task.endTime),
    };
  }

  /** The `taskInfo` a POST answers at once. */
  info(task: TaskRecord): Record<string, unknown> {
    return { id: task.id, status: task.status, startTime: iso(task.startTime), metadata: task.metadata };
  }
}
