#!/usr/bin/env node
// Runs the compiled CLI when built (the container image), the TypeScript source otherwise.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/services/cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../services/cli/main.ts', import.meta.url).href);
}
