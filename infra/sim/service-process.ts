import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Simulation only. On EKS the chart runs each service as a pod and its logs
 * go to the node; on the local stack the demo, the benchmarks and the tests
 * run them as child processes of the repo's sources and watch their JSON log
 * lines to know what happened and when.
 */

const REPO_ROOT = new URL('../../', import.meta.url).pathname;

export interface LogLine {
  msg?: string;
  time?: string;
  [k: string]: unknown;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Every JSON log line so far, parsed. */
  lines: LogLine[];
  /** Resolves with the first log line for which `match` is true. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/** Runs `spot-rescue <command>` from the source tree with the given environment. */
export function startService(
  name: string,
  command: string,
  env: Record<string, string>,
  logFile?: string,
): ServiceProcess {
  return startTsProcess(name, ['services/cli/main.ts', command], env, logFile);
}

/**
 * Runs a TypeScript entry point of the repo under Node, collecting its JSON
 * log lines (and copying them to `logFile`, so a run can be read afterwards).
 */
export function startTsProcess(
  name: string,
  [entry, ...args]: string[],
  env: Record<string, string>,
  logFile?: string,
): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, entry as string), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  });
  const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  const lines: LogLine[] = [];
  const waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const stderr: string[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    log?.write(d);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    log?.write(`${text}\n`);
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      log?.end();
      r(code);
    }),
  );
  return {
    name,
    child,
    lines,
    waitForLine(match, timeoutMs = 60_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`${name}: no matching log line after ${timeoutMs} ms\n${stderr.join('').slice(-2000)}`),
          );
        }, timeoutMs);
        exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited with ${code}\n${stderr.join('').slice(-2000)}`));
        });
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
