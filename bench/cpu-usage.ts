import { readdir, readFile } from 'node:fs/promises';

/**
 * Where the machine's CPU went during a benchmark window, from /proc: the
 * total busy share, and CPU seconds per component. A child's time counts
 * for its parent once reaped (cutime/cstime), so CRIU, tar and zstd show up
 * under the agent that ran them.
 */
export interface CpuSnapshot {
  busyTicks: number;
  totalTicks: number;
  byPid: Map<number, { label: string; ticks: number }>;
}

const TICKS_PER_SECOND = 100;

export async function cpuSnapshot(label: (cmdline: string, pid: number) => string): Promise<CpuSnapshot> {
  const stat =
    (await readFile('/proc/stat', 'utf8')).split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const idle = (stat[3] ?? 0) + (stat[4] ?? 0);
  const total = stat.reduce((a, b) => a + b, 0);
  const byPid = new Map<number, { label: string; ticks: number }>();
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const [s, cmd] = await Promise.all([
        readFile(`/proc/${pid}/stat`, 'utf8'),
        readFile(`/proc/${pid}/cmdline`, 'utf8'),
      ]);
      // Fields after the parenthesised command name: utime, stime, cutime, cstime are 14-17.
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      byPid.set(pid, { label: label(cmd.replace(/\0/g, ' '), pid), ticks });
    } catch {
      // exited while we looked
    }
  }
  return { busyTicks: total - idle, totalTicks: total, byPid };
}

/** CPU seconds per label between two snapshots, and the share of the machine that was busy. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  const seconds: Record<string, number> = {};
  for (const [pid, end] of b.byPid) {
    const start = a.byPid.get(pid)?.ticks ?? 0;
    seconds[end.label] = (seconds[end.label] ?? 0) + (end.ticks - start) / TICKS_PER_SECOND;
  }
  const busyShare = (b.busyTicks - a.busyTicks) / Math.max(1, b.totalTicks - a.totalTicks);
  const sorted = Object.entries(seconds)
    .filter(([, s]) => s >= 0.5)
    .sort((x, y) => y[1] - x[1])
    .map(([k, s]) => [k, Math.round(s * 10) / 10] as const);
  return { busyShare, cpuSeconds: Object.fromEntries(sorted) };
}
