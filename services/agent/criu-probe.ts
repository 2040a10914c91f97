import { run } from './process.js';
import type { CriuState } from './runtime-support.js';

/** CRIU's version and `criu check`, run as the node's runtime would run it. */
export async function probeCriu(criu: string): Promise<CriuState> {
  let version: string | undefined;
  try {
    const out = await run(criu, ['--version']);
    version = /Version:\s*(\S+)/.exec(out)?.[1] ?? out.trim().slice(0, 40);
  } catch (err) {
    return { found: false, problem: `${criu} cannot run: ${(err as Error).message}` };
  }
  try {
    await run(criu, ['check']);
    return { found: true, version, checkOk: true };
  } catch (err) {
    return { found: true, version, checkOk: false, problem: (err as Error).message };
  }
}
