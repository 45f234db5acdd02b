/**
 * Runs the deliveries of one (mutating) request that share an SQS batch one after another, in the
 * batch's order.
 * Run side by side, the later one would meet the earlier one's in-progress idempotency record and go back
 * to the queue for its whole visibility timeout (the record's expiry is unknown to it); run after, it
 * replays the stored result at once. Deliveries of different requests still run concurrently.
 */
export class RequestTurns {
  private readonly last = new Map<string, Promise<unknown>>();

  run<T>(requestId: string, work: () => Promise<T>): Promise<T> {
    const before = this.last.get(requestId);
    const turn = before ? before.then(work) : work();
    // Whatever the earlier delivery ended with, the next one still runs.
    this.last.set(
      requestId,
      turn.catch(() => undefined),
    );
    return turn;
  }
}
