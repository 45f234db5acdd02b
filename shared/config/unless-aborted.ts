/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as it is aborted: the caller
 * stops waiting even for work that ignores the signal.
 */
export function unlessAborted<T>(work: PromiseLike<T> | T, signal: AbortSignal | undefined): Promise<T> {
  const promise = Promise.resolve(work);
  if (!signal) return promise;
  if (signal.aborted) {
    // Nobody waits for it any more; its own failure must not surface as an unhandled rejection.
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
