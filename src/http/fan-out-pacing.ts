// How the fan-outs of subscription groups (src/http/subscription-groups.ts) share the process's
// time with everything else it does — the refresh they report on first:
//
// - In slices: fan-outs write for FAN_OUT_SLICE_MS, then the event loop gets a turn (one slice
//   for all groups: 100 groups of 100 members are 10,000 sockets too).
// - Within a budget, for progress. Writing one value to 10,000 sockets is 40–100 ms of a core
//   (the kernel's send is most of it, whatever the value's size), and a run's progress comes
//   every 250 ms (src/subscriptions/throttle.ts): sent to every socket each time, at that scale it
//   takes a third of the process and slows the refresh by as much. So the fan-outs may take
//   `share` of the process's time (FanOutBudget). Beyond it a group holds its progress — a newer
//   value of the same run replaces the held one (latest wins) — and sends the next value that
//   comes once the budget allows again (the held one then, if it came within FRESH_MS): what is
//   sent is as fresh as it comes, not as stale as the wait. After MAX_HOLD_MS of holding, the
//   next value goes whatever the budget says, and a run that says nothing newer for MAX_HOLD_MS
//   has its latest sent: the latest state always arrives. Values that are not progress (a run
//   started or finished, a quality metric) are never held: they go at once, with the progress
//   held before them, in the same write, and count against the budget as well. At 10%, a pass
//   to 1,000 sockets (~10 ms) holds progress for ~100 ms after it, less than a run's 250 ms
//   between two; one to 10,000 (~100 ms) for the longest, MAX_HOLD_MS, so that a dashboard gets
//   a run's progress about once a second instead of four times.

import { setImmediate } from 'node:timers/promises';

/** How long fan-outs write before the event loop gets a turn (1,000 sockets fit in one slice). */
const FAN_OUT_SLICE_MS = 15;
/** When the fan-outs' current slice began, and the passes writing now, of every group (per process). */
let sliceStart = 0;
let passes = 0;

/** A group's pass begins: the first while no other is writing begins a slice (it writes its slice before its first turn). */
export function passBegins(): void {
  if (passes++ === 0) sliceStart = performance.now();
}

/** A group's pass ended. */
export function passEnds(): void {
  passes--;
}

/** Gives the event loop a turn when the fan-outs of all groups together have written for FAN_OUT_SLICE_MS. */
export async function fanOutTurn(): Promise<void> {
  if (performance.now() - sliceStart <= FAN_OUT_SLICE_MS) return;
  await setImmediate();
  sliceStart = performance.now();
}

/** The share of the process's time the fan-outs may take, unless SUBSCRIBER_FANOUT_SHARE says otherwise. */
export const DEFAULT_FANOUT_SHARE = 0.1;
/**
 * The longest a group holds progress for the budget: then the next value that comes goes at once;
 * and the budget's debt never holds longer than this either.
 */
export const MAX_HOLD_MS = 1000;
/**
 * A value held when the budget allows again goes then if it came at most this long before (the
 * budget's wait was short: a few sockets, or a pass a moment ago); an older one waits for the
 * next value, sent as fresh as it comes.
 */
export const FRESH_MS = 25;

/**
 * The time the fan-outs of one process may take: `share` of its wall time. Spending beyond it is
 * a debt that wall time pays back at `share` ms per ms; while in debt, progress is held. No credit
 * is saved up while idle: a burst after a quiet hour is paced like any other. The debt is capped
 * at what MAX_HOLD_MS pays back: groups send progress at least that often anyway, and a debt
 * beyond it would hold progress long after the crowd that ran it up has left.
 */
export class FanOutBudget {
  private debt = 0;
  private at = performance.now();

  constructor(private readonly share: number) {}

  /** Counts `ms` of fan-out against the budget. */
  spend(ms: number): void {
    this.settle();
    this.debt = Math.min(this.debt + ms, MAX_HOLD_MS * this.share);
  }

  /** How long until progress may be sent again (0: now), in ms. */
  waitMs(): number {
    this.settle();
    return this.debt / this.share;
  }

  private settle(): void {
    const now = performance.now();
    this.debt = Math.max(0, this.debt - (now - this.at) * this.share);
    this.at = now;
  }
}
