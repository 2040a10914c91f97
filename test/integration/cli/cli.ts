import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StatusReport } from '../../../services/cli/status-view.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the real binary (bin/spot-rescue.js) as an operator would, with this environment. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/spot-rescue.js', ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `spot-rescue status --json` on this Redis and queue prefix, as an operator runs it; fails the test if it fails. */
export async function statusReport(redisUrl: string, prefix: string): Promise<StatusReport> {
  const r = await runCli(['status', '--json'], {
    ...process.env,
    SPOT_RESCUE_REDIS_URL: redisUrl,
    SPOT_RESCUE_QUEUE_PREFIX: prefix,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}
