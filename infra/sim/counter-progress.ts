/**
 * Simulation only. The stateful workload the demo, the benchmarks and the
 * tests migrate (infra/workload/counter.c) publishes its progress as one
 * line; this reads it, so a restart from zero or a corrupt page shows.
 */

/** `counter=N mib=M sweeps=S corrupt=C pid=P` -> numbers. */
export function parseCounterProgress(line: string): Record<string, number> {
  return Object.fromEntries(
    line
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('='))
      .filter((kv): kv is [string, string] => kv.length === 2)
      .map(([k, v]) => [k, Number(v)]),
  );
}
