/**
 * Runs the deliveries of one (mutating) request that share an SQS batch one after another, in the
 * batch's order.
 * Run side by side, the later one would meet the earlier one's in-progress idempotency record and go back
 * to the queue for its whole visibility timeout (the record's expiry is unknown to it); run after, it
 * replays the stored result at once. Deliveries of different requests still run concurrently.
 */
export class RequestTurns<T> {
  private readonly requests = new Map<string, { last: Promise<T | undefined>; count: number }>();

  /**
   * `work` learns what the request's previous delivery in the batch ended with (undefined for the first,
   * or when it threw), and whether a later one waits: every delivery of the batch takes its turn as its
   * record handler starts, before any turn ends.
   */
  run(
    requestId: string,
    work: (turn: { previous: T | undefined; later: () => boolean }) => T | Promise<T>,
  ): Promise<T> {
    const entry = this.requests.get(requestId) ?? { last: Promise.resolve(undefined), count: 0 };
    const index = entry.count++;
    const later = () => entry.count > index + 1;
    const turn = entry.last.then((previous) => work({ previous, later }));
    // Whatever the earlier delivery ended with, the next one still runs.
    entry.last = turn.catch(() => undefined);
    this.requests.set(requestId, entry);
    return turn;
  }
}
