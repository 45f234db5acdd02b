/**
 * Runs the deliveries of one (mutating) request that share an SQS batch one after another, in the
 * batch's order.
 * Run side by side, the later one would meet the earlier one's in-progress idempotency record and go back
 * to the queue for its whole visibility timeout (the record's expiry is unknown to it); run after, it
 * replays the stored result at once. Deliveries of different requests still run concurrently.
 */
export class RequestTurns<T> {
  private readonly requests = new Map<string, { last: Promise<T | undefined>; copies: string[] }>();

  /**
   * `work` learns what the delivery before it with this requestId ended with (undefined for the first,
   * or when it threw), whether there was one, and whether a later delivery of the same request waits:
   * the same `copy` (its action and parameters), not a reuse of the requestId for another. Every
   * delivery of the batch takes its turn as its record handler starts, before any turn ends.
   */
  run(
    requestId: string,
    copy: string,
    work: (turn: { previous: T | undefined; earlier: boolean; later: () => boolean }) => T | Promise<T>,
  ): Promise<T> {
    const entry = this.requests.get(requestId) ?? { last: Promise.resolve(undefined), copies: [] };
    const index = entry.copies.push(copy) - 1;
    const later = () => entry.copies.indexOf(copy, index + 1) !== -1;
    const turn = entry.last.then((previous) => work({ previous, earlier: index > 0, later }));
    // Whatever the earlier delivery ended with, the next one still runs.
    entry.last = turn.catch(() => undefined);
    this.requests.set(requestId, entry);
    return turn;
  }
}
