/**
 * A second test reporter beside `spec`: at the end of a run it prints each
 * test file's time (the sum of its top-level tests), slowest first, and the
 * total, so the warm run's budget can be spent where it goes.
 * `scripts/run-tests` writes it to `.test-timings.txt` and shows the slowest.
 */
import { relative } from 'node:path';
import type { TestEvent } from 'node:test/reporters';

export default async function* fileTimings(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const byFile = new Map<string, number>();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    if (data.nesting !== 0 || !data.file) continue;
    const file = relative(process.cwd(), data.file);
    byFile.set(file, (byFile.get(file) ?? 0) + data.details.duration_ms);
  }
  const rows = [...byFile].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
  yield `test time by file (top-level tests summed), ${rows.length} files, ${(total / 1000).toFixed(1)} s in all\n`;
  for (const [file, ms] of rows) yield `${(ms / 1000).toFixed(1).padStart(8)} s  ${file}\n`;
}
