import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';

// The image is built from services/ alone: a services/ file that reached into the
// simulation (or the tests, benchmarks, scripts, docs) would break the build or ship them.
const REPO_ROOT = new URL('../../../', import.meta.url).pathname;
const OUTSIDE_PRODUCT = ['infra', 'test', 'bench', 'scripts', 'docs'];

/** Every module specifier a TypeScript file names: static and dynamic imports, re-exports, require. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const re of [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ])
    for (const m of source.matchAll(re)) found.push(m[1] as string);
  return found;
}

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

/** `file -> specifier` for each import under `root`/services that resolves outside the product. */
async function importsLeavingProduct(root: string): Promise<string[]> {
  const leaks: string[] = [];
  for (const file of await tsFiles(join(root, 'services'))) {
    for (const spec of specifiers(await readFile(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const top = relative(root, resolve(dirname(file), spec)).split(sep)[0];
      if (top !== undefined && OUTSIDE_PRODUCT.includes(top))
        leaks.push(`${relative(root, file)} -> ${spec}`);
    }
  }
  return leaks;
}

test('no file under services/ imports from infra/, test/, bench/, scripts/ or docs/', async () => {
  assert.deepEqual(await importsLeavingProduct(REPO_ROOT), []);
});

test('the check sees every way a services/ file could reach the simulation', async () => {
  const root = await mkdtemp(join(tmpdir(), 'product-independence-'));
  try {
    await mkdir(join(root, 'services', 'worker'), { recursive: true });
    await writeFile(
      join(root, 'services', 'worker', 'leaky.ts'),
      [
        "import { startLocalAgent } from '../../infra/sim/local-agent.js';",
        "import type {\n  WorkerIdentity,\n} from '../../infra/sim/worker-identity.js';",
        "export { waitFor } from '../../test/support/stack.js';",
        "import '../../bench/window.js';",
        "const m = await import('../../scripts/demo.js');",
        "import { ok } from '../common/ok.js';",
        "import { z } from 'zod';",
      ].join('\n'),
    );
    assert.deepEqual((await importsLeavingProduct(root)).sort(), [
      'services/worker/leaky.ts -> ../../bench/window.js',
      'services/worker/leaky.ts -> ../../infra/sim/local-agent.js',
      'services/worker/leaky.ts -> ../../infra/sim/worker-identity.js',
      'services/worker/leaky.ts -> ../../scripts/demo.js',
      'services/worker/leaky.ts -> ../../test/support/stack.js',
    ]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
