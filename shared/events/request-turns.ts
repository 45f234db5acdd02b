/**
 * Runs the deliveries that share an SQS batch and an idempotency record (requestId and action) one after
 * another, in the batch's order.
 * Run side by side, the later one would meet the earlier one's in-progress idempotency record and go back
 * to the queue for its whole visibility timeout (the record's expiry is unknown to it); run after, it
 * replays the stored result at once, or is refused for parameters the record was not written with.
 * Deliveries under other records still run concurrently.
 */
export class RequestTurns<T> {
  private readonly records = new Map<
    string,
    { last: Promise<void>; copies: string[]; done: { copy: string; outcome: T }[] }
  >();

  /**
   * `work` learns how the earlier copies of its delivery in the batch (the same `copy`: its action and
   * parameters) ended, oldest first (one that threw is left out), whether any delivery took its turn
   * before it under the record, and whether a later copy waits. Every delivery of the batch takes its
   * turn as its record handler starts, before any turn ends.
   */
  run(
    record: string,
    copy: string,
    work: (turn: { copies: T[]; behindOthers: boolean; later: () => boolean }) => T | Promise<T>,
  ): Promise<T> {
    const entry = this.records.get(record) ?? { last: Promise.resolve(), copies: [], done: [] };
    this.records.set(record, entry);
    const index = entry.copies.push(copy) - 1;
    const later = () => entry.copies.indexOf(copy, index + 1) !== -1;
    const turn = entry.last.then(() =>
      work({
        copies: entry.done.filter((turned) => turned.copy === copy).map((turned) => turned.outcome),
        behindOthers: index > 0,
        later,
      }),
    );
    // Whatever the earlier delivery ended with, the next one still runs.
    entry.last = turn.then(
      (outcome) => void entry.done.push({ copy, outcome }),
      () => undefined,
    );
    return turn;
  }
}
