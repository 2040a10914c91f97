/**
 * How many checkpoints ran on this node over time (the slots in use), so a
 * checkpoint's timing can be read as its share of the node: two that ran
 * side by side each moved at half the node's rate. Fed by every change of
 * the slots, the calibration's and other unadmitted checkpoints included.
 */
export class ConcurrencyTimeline {
  /** (time, running from then on, the integral of running over time up to then), oldest first. */
  private readonly points: { at: number; running: number; integral: number }[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    /** How far back a mean may be asked for; older points are forgotten. */
    private readonly keepMs = 3_600_000,
  ) {}

  /** From now on, `running` checkpoints hold a slot. */
  set(running: number): void {
    const at = this.now();
    const last = this.points.at(-1);
    const integral = last ? last.integral + last.running * (at - last.at) : 0;
    if (last && last.at === at) {
      last.running = running;
    } else this.points.push({ at, running, integral });
    while (this.points.length > 2 && (this.points[1] as { at: number }).at < at - this.keepMs)
      this.points.shift();
  }

  /** The mean number running between `from` and `to` (epoch ms); 1 when unknown or none was counted. */
  meanBetween(from: number, to: number): number {
    if (!(to > from) || this.points.length === 0) return 1;
    return Math.max(1, (this.integralAt(to) - this.integralAt(from)) / (to - from));
  }

  private integralAt(at: number): number {
    let p: { at: number; running: number; integral: number } | undefined;
    for (const q of this.points) {
      if (q.at > at) break;
      p = q;
    }
    // Before the first point (or forgotten): counted as nothing running, never as everything since.
    if (!p) return this.points[0]?.integral ?? 0;
    return p.integral + p.running * (at - p.at);
  }
}
