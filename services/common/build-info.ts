import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  nodeVersion: string;
}

let cached: BuildInfo | undefined;

/**
 * The version of the package this code ships in: package.json sits at the
 * root of the checkout and of the image (beside dist/), so it is found by
 * walking up from this file, wherever it was compiled to.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  let version = 'unknown';
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'spot-rescue' && typeof pkg.version === 'string') {
        version = pkg.version;
        break;
      }
    }
    dir = dirname(dir);
  }
  cached = { version, nodeVersion: process.version };
  return cached;
}
