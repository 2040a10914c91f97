import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { setting } from './config.js';
import { JobSigner } from './job-signature.js';

/**
 * The key the listener signs jobs with and the worker verifies them with: a
 * Kubernetes Secret mounted into those two only. Required: a listener or a
 * worker without it would write or run jobs nobody can authenticate.
 */
export const jobSigningSettings = {
  jobSigningKeyFile: setting(
    'SPOT_RESCUE_JOB_SIGNING_KEY_FILE',
    z.string().min(1),
    'file holding the HMAC key (at least 32 bytes) jobs in Redis are signed with; the same Secret in listener and worker',
  ),
};

/** Reads the key; a missing, unreadable or short key stops the service at start with the file named. */
export function loadJobSigner(file: string, read: (f: string) => Buffer = (f) => readFileSync(f)): JobSigner {
  let raw: Buffer;
  try {
    raw = read(file);
  } catch (err) {
    throw new Error(`cannot read the job signing key ${file}: ${(err as Error).message}`);
  }
  // A key written with a trailing newline (echo, an editor) is the same key.
  const key = Buffer.from(raw.toString('utf8').replace(/\s+$/, ''), 'utf8');
  if (key.length < 32)
    throw new Error(`the job signing key ${file} has ${key.length} bytes; it needs at least 32`);
  return new JobSigner(key);
}

/**
 * A fresh random key in a file of its own (mode 0600), for a stack or a test
 * that starts a listener and a worker itself; the chart makes the real one.
 */
export function newJobSigningKeyFile(dir = mkdtempSync(join(tmpdir(), 'spot-rescue-key-'))): string {
  const file = join(dir, 'job-signing-key');
  writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return file;
}
