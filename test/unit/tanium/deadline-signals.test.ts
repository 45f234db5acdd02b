import { describe, expect, it } from 'vitest';
import { DeadlineSignals } from '../../../shared/tanium/deadline-signals.ts';

describe('Deadline signals', () => {
  it('gives every request of one deadline the same signal, and another deadline its own', () => {
    // Prepare
    const signals = new DeadlineSignals();
    const deadline = Date.now() + 60_000;

    // Act
    const first = signals.at(deadline);
    const again = signals.at(deadline);
    const other = signals.at(deadline + 1);

    // Assess
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(first.aborted).toBe(false);
  });

  it('aborts at the deadline, and within a millisecond for a deadline already past', async () => {
    // Prepare
    const signals = new DeadlineSignals();

    // Act
    const soon = signals.at(Date.now() + 30);
    const past = signals.at(Date.now() - 1_000);
    await new Promise((resolve) => setTimeout(resolve, 80));

    // Assess
    expect(soon.aborted).toBe(true);
    expect(past.aborted).toBe(true);
  });

  it('takes a deadline that is not a whole millisecond', async () => {
    // Prepare
    const signals = new DeadlineSignals();

    // Act
    const signal = signals.at(Date.now() + 20.75);
    await new Promise((resolve) => setTimeout(resolve, 60));

    // Assess
    expect(signal.aborted).toBe(true);
  });

  it('keeps the signals of a handful of overlapping invocations', () => {
    // Prepare: eight invocations' deadlines, asked for in turn
    const signals = new DeadlineSignals();
    const base = Date.now() + 60_000;
    const deadlines = Array.from({ length: 8 }, (_, i) => base + i);
    const first = deadlines.map((deadline) => signals.at(deadline));

    // Act: their requests ask again
    const again = deadlines.map((deadline) => signals.at(deadline));

    // Assess: one signal (one timer) per deadline still
    again.forEach((signal, i) => {
      expect(signal).toBe(first[i]);
    });
  });

  it('keeps a bounded number of deadlines and still answers for a forgotten one', () => {
    // Prepare
    const signals = new DeadlineSignals();
    const base = Date.now() + 60_000;
    const first = signals.at(base);

    // Act: more deadlines than it keeps
    for (let i = 1; i <= 20; i++) signals.at(base + i);
    const later = signals.at(base);

    // Assess: a fresh signal for the same deadline, not an error
    expect(later).not.toBe(first);
    expect(later.aborted).toBe(false);
  });
});
