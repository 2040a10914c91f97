import { readdirSync, readFileSync } from 'node:fs';
// The agent's own: it finds the CRIU under a runc checkpoint it interrupts the same way.
import { childrenOf } from '../../services/agent/runtimes/runc/runc-cli.js';

/**
 * A `runc checkpoint` and the CRIU dump under it, found in /proc, for the
 * tests that act in the middle of a dump: inject a fault while one runs,
 * hold CRIU (SIGSTOP) so a deadline passes mid-dump. runc is known by its
 * command line (`runc --root <root> ... checkpoint ... <container>`), CRIU
 * as a child of it named `criu`.
 *
 * Synchronous: a scan reads a file per process (under 1 ms for a hundred;
 * the same scan awaiting each read took 24 ms), and a test that holds a
 * dump must see it within one short tick, before a fast dump ends.
 */

/** A `runc checkpoint` running now: its pid and its arguments. */
export interface RuncCheckpointProc {
  pid: number;
  args: string[];
}

/** The `runc checkpoint` processes running now with an argument `wanted` accepts (a runc root, a container or checkpoint id). */
export function runcCheckpoints(wanted: (arg: string) => boolean): RuncCheckpointProc[] {
  const out: RuncCheckpointProc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const args = argsOf(Number(d));
    if (args?.includes('checkpoint') && args.some(wanted)) out.push({ pid: Number(d), args });
  }
  return out;
}

/** The CRIU process a `runc checkpoint` with an argument `wanted` accepts has started, if one runs now. */
export function criuDumpOf(wanted: (arg: string) => boolean): number | undefined {
  for (const runc of runcCheckpoints(wanted)) {
    for (const child of childrenOf(runc.pid)) if (statOf(child)?.comm === 'criu') return child;
  }
  return undefined;
}

/** A process's command line split into its arguments (a last empty one after the final NUL); undefined once it is gone. */
export function argsOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** The fields of /proc/<pid>/stat the tests use. */
export interface ProcStat {
  comm: string;
  /** R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** Clock ticks after boot: with the pid, tells a process from a later one given the same pid. */
  startTime: string;
}

/** A process's /proc/<pid>/stat; undefined once it is gone. */
export function statOf(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid ... starttime (field 22); comm may hold spaces and parentheses, so the
  // fields are read after its last closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    state: rest[0] ?? '',
    startTime: rest[19] ?? '',
  };
}
