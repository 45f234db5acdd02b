import { randomUUID } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'tanium-vault-';
/** `tanium-vault-p<pid>-<uuid>`: the pid tells whether the process that wrote a file still runs. */
const SPOOL_NAME = /^tanium-vault-p(\d+)-/;

/** Spool files of this process still in use (every Vault of the process shares the directory). */
const active = new Set<string>();

/** A new spool file path in `dir`, in use until `release` (which removes the file). */
export function claimSpoolFile(dir: string): string {
  const file = join(dir, `${PREFIX}p${process.pid}-${randomUUID()}`);
  active.add(file);
  return file;
}

export async function releaseSpoolFile(file: string): Promise<void> {
  try {
    await rm(file, { force: true });
  } finally {
    active.delete(file);
  }
}

/**
 * Releases every spool file this process holds: for a CLI run stopped by a signal, which exits before a
 * store still running (an S3 upload) could release its own.
 */
export async function releaseAllSpoolFiles(): Promise<void> {
  await Promise.all([...active].map((file) => releaseSpoolFile(file).catch(() => undefined)));
}

/** Whether a process with this id runs (a file or directory named after its writer's pid is stale if not). */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes spool files no running call will remove: those of a process that is gone (an invocation killed
 * at its timeout leaves its file in Lambda's /tmp, which the next invocation of the container inherits)
 * and those of this process that no call holds. Best effort: a sweep that fails leaves the spool as it
 * was. A live process's files are left alone (parallel runs on one machine share the directory).
 */
export async function removeStaleSpoolFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const stale = names.filter((name) => {
    if (!name.startsWith(PREFIX) || active.has(join(dir, name))) return false;
    const pid = SPOOL_NAME.exec(name)?.[1];
    // Files named before the pid was part of the name predate this code, so no running call holds them.
    return pid === undefined || Number(pid) === process.pid || !isProcessRunning(Number(pid));
  });
  await Promise.all(stale.map((name) => rm(join(dir, name), { force: true }).catch(() => undefined)));
}
