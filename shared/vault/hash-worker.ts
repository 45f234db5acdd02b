import { Worker } from 'node:worker_threads';
import { VaultError } from '../tanium/errors.ts';
import { VAULT_ADD_ERROR_PREFIX } from './errors.ts';

/**
 * SHA-1, SHA-256 and MD5 of evidence computed on a worker thread. ZipCrypto decryption keeps the main
 * thread busy (it is a serial loop over every byte); the three digests cost about a third as much again
 * and would run on the same thread. On a worker they run beside decryption instead of after it.
 *
 * The worker's source is a string (CommonJS, Node built-ins only) so the Lambda bundle needs no second
 * file. Bytes travel in blocks that are copied once, transferred (not cloned) to the worker and handed
 * back for reuse, so a file of any size allocates a handful of blocks and memory stays bounded.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const jobs = new Map();
const start = () => [createHash('sha1'), createHash('sha256'), createHash('md5')];
parentPort.on('message', (message) => {
  const { job, type } = message;
  if (type === 'data') {
    let hashes = jobs.get(job);
    if (!hashes) jobs.set(job, (hashes = start()));
    const bytes = new Uint8Array(message.buffer, 0, message.length);
    for (const hash of hashes) hash.update(bytes);
    parentPort.postMessage({ job, type: 'block', buffer: message.buffer }, [message.buffer]);
  } else if (type === 'end') {
    const [sha1, sha256, md5] = (jobs.get(job) || start()).map((hash) => hash.digest('hex'));
    jobs.delete(job);
    parentPort.postMessage({ job, type: 'digests', sha1, sha256, md5 });
  } else if (type === 'cancel') {
    jobs.delete(job);
  }
});
`;

/** Bytes per block sent to the worker: large enough that messaging costs nothing next to hashing. */
export const HASH_BLOCK_BYTES = 1024 * 1024;
/** Blocks per file: what may be in flight before the stream waits for the worker. */
export const HASH_BLOCKS_PER_FILE = 4;

export interface FileDigests {
  sha1: string;
  sha256: string;
  md5: string;
}

type Reply =
  | { job: number; type: 'block'; buffer: ArrayBuffer }
  | ({ job: number; type: 'digests' } & FileDigests);

interface Job {
  onBlock(buffer: ArrayBuffer): void;
  onDigests(digests: FileDigests): void;
  onFailure(error: Error): void;
}

/** The one worker of this container, shared by every file being hashed; started on first use. */
class HashWorkerPool {
  private worker: Worker | undefined;
  /** Jobs by id, with the worker each was opened on (a replacement may already run while one dies). */
  private readonly jobs = new Map<number, { job: Job; worker: Worker }>();
  private nextJob = 1;

  open(job: Job): { id: number; post(message: object, transfer?: ArrayBuffer[]): void; close(): void } {
    const worker = this.started();
    const id = this.nextJob++;
    this.jobs.set(id, { job, worker });
    // Only while a file is being hashed does the worker keep the process alive.
    worker.ref();
    return {
      id,
      post: (message, transfer) => worker.postMessage({ job: id, ...message }, transfer),
      close: () => {
        this.jobs.delete(id);
        if (this.jobsOn(worker).length === 0) worker.unref();
      },
    };
  }

  private jobsOn(worker: Worker): number[] {
    return [...this.jobs].filter(([, open]) => open.worker === worker).map(([id]) => id);
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (reply: Reply) => {
      const job = this.jobs.get(reply.job)?.job;
      if (!job) return;
      if (reply.type === 'block') job.onBlock(reply.buffer);
      else job.onDigests({ sha1: reply.sha1, sha256: reply.sha256, md5: reply.md5 });
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const id of this.jobsOn(worker)) {
        const { job } = this.jobs.get(id)!;
        this.jobs.delete(id);
        job.onFailure(error);
      }
    };
    // Nothing is wrong with the file or the request: a new worker on redelivery can hash it.
    const lost = (what: string) =>
      new VaultError(`${VAULT_ADD_ERROR_PREFIX}The hashing worker ${what}`, { retryable: true });
    worker.on('error', (error) => fail(lost(`failed: ${error.message}`)));
    worker.on('exit', (code) => fail(lost(`stopped (exit code ${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }

  get active(): number {
    return this.jobs.size;
  }

  /** Stops the worker (tests); the next file starts a new one. */
  async terminate(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}

const pool = new HashWorkerPool();

/** Files being hashed on the worker right now. */
export function activeHashJobs(): number {
  return pool.active;
}

/** Stops the shared hashing worker; the next file hashed starts a fresh one. */
export function terminateHashWorker(): Promise<void> {
  return pool.terminate();
}

/**
 * One file's digests computed on the worker. `update` copies the bytes (the caller may reuse or pass on
 * its chunk at once) and returns a promise only when every block is in flight, which is the stream's
 * backpressure; `digests` waits for the last block. Not safe for concurrent `update` calls: one stream
 * feeds it.
 */
export class WorkerDigester {
  private readonly free: ArrayBuffer[] = [];
  /** Blocks allocated so far: only as many as the file needs, at most HASH_BLOCKS_PER_FILE. */
  private allocated = 0;
  private block: Uint8Array | undefined;
  private filled = 0;
  private waiting: { resolve(): void; reject(error: Error): void } | undefined;
  private finishing: { resolve(digests: FileDigests): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;
  private readonly channel: ReturnType<HashWorkerPool['open']>;

  constructor() {
    this.channel = pool.open({
      onBlock: (buffer) => {
        this.free.push(buffer);
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.resolve();
      },
      onDigests: (digests) => {
        this.channel.close();
        this.finishing?.resolve(digests);
      },
      onFailure: (error) => this.fail(error),
    });
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.block) {
        const buffer = this.free.pop() ?? this.newBlock();
        // Every block is with the worker: continue with the rest of the chunk once one comes back.
        if (!buffer) return this.blockReturned().then(() => this.update(chunk.subarray(offset)));
        this.block = new Uint8Array(buffer);
        this.filled = 0;
      }
      const take = Math.min(chunk.length - offset, this.block.length - this.filled);
      this.block.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.block.length) this.send();
    }
    return undefined;
  }

  digests(): Promise<FileDigests> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.filled > 0) this.send();
    return new Promise<FileDigests>((resolve, reject) => {
      this.finishing = { resolve, reject };
      this.channel.post({ type: 'end' });
    });
  }

  /** Drops this file's state on the worker (the stream failed). */
  cancel(): void {
    if (this.failure) return;
    this.failure = new Error('Hashing was cancelled');
    this.channel.post({ type: 'cancel' });
    this.channel.close();
  }

  private send(): void {
    const block = this.block as Uint8Array;
    this.block = undefined;
    this.channel.post({ type: 'data', buffer: block.buffer, length: this.filled }, [
      block.buffer as ArrayBuffer,
    ]);
    this.filled = 0;
  }

  private newBlock(): ArrayBuffer | undefined {
    if (this.allocated >= HASH_BLOCKS_PER_FILE) return undefined;
    this.allocated += 1;
    return new ArrayBuffer(HASH_BLOCK_BYTES);
  }

  private blockReturned(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private fail(error: Error): void {
    this.failure = error;
    this.waiting?.reject(error);
    this.finishing?.reject(error);
    this.waiting = undefined;
    this.finishing = undefined;
  }
}
