import { setTimeout as sleep } from 'node:timers/promises';
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import type { Logger } from './logger.js';

export interface InformerOptions<T> {
  labelSelector?: string;
  /** Also given to the list function by the caller: the list and the watch must select the same objects. */
  fieldSelector?: string;
  /**
   * Reduces an object in place as it enters the cache, before any handler
   * sees it, so the cache holds only what its readers use.
   */
  trim?: (obj: T) => void;
  /** Pause before restarting a failed list or watch. */
  restartDelayMs?: number;
  log?: Logger;
}

type Verb = 'add' | 'update' | 'delete';

const RESTART_DELAY_MS = 1000;
/** How long stop() waits for a list or watch request in flight before giving up on it. */
const STOP_WAIT_MS = 5000;

/**
 * The library's ListWatch (list, then watch from the list's resourceVersion,
 * relist on 410 Gone) made fit for a long-running service: it restarts itself
 * after a failed list or watch, says whether its cache is current (synced()),
 * can be awaited for its first sync with a timeout that names the last error,
 * and stops cleanly, even while a list or watch request is in flight, so the
 * process can exit.
 *
 * Objects from the list are the typed client's, objects from watch events are
 * the raw JSON (dates as strings), as in the library: read them, don't mutate.
 */
export class SyncedInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private healthy = false;
  private stopped = false;
  private errors = 0;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    kc: KubeConfig,
    readonly path: string,
    list: () => Promise<KubernetesListObject<T>>,
    private readonly o: InformerOptions<T> = {},
  ) {
    // A list that returns after stop() must not go on to open a watch (the library does not check).
    const guarded = async () => {
      const l = await list();
      if (this.stopped) throw new Error('informer stopped');
      return l;
    };
    this.lw = new ListWatch<T>(path, new Watch(kc), guarded, false, o.labelSelector, o.fieldSelector);
    if (o.trim) {
      this.lw.on('add', o.trim);
      this.lw.on('update', o.trim);
    }
    this.lw.on('error', (err: unknown) => this.failed(err));
  }

  on(verb: Verb, cb: (obj: T) => void): void {
    this.lw.on(verb, cb);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  list(): readonly T[] {
    return this.lw.list();
  }

  /** True once listed and watching, false while a list or watch is failing or after stop(). */
  synced(): boolean {
    return this.healthy && !this.stopped;
  }

  stats(): { synced: boolean; errors: number; lastError?: string } {
    return {
      synced: this.synced(),
      errors: this.errors,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Starts listing and watching; resolves on the first sync. Rejects after
   * timeoutMs (naming the last error) or if stopped first; the informer keeps
   * retrying until stop().
   */
  async start(timeoutMs: number): Promise<void> {
    this.stopped = false;
    void this.run();
    const end = Date.now() + timeoutMs;
    while (!this.healthy) {
      if (this.stopped) throw new Error(`${this.describe()} stopped before its first sync`);
      if (Date.now() >= end) {
        throw new Error(
          `${this.describe()} not synced after ${timeoutMs} ms` +
            (this.lastError ? ` (last error: ${this.lastError})` : ' (list or watch still pending)'),
        );
      }
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.healthy = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.lw.stop();
    // A watch request whose response had not arrived is not yet abortable: wait for it, then abort it.
    const inFlight = this.running;
    if (inFlight) {
      const ac = new AbortController();
      await Promise.race([inFlight, sleep(STOP_WAIT_MS, undefined, { signal: ac.signal }).catch(() => {})]);
      ac.abort();
      await this.lw.stop();
    }
  }

  private describe(): string {
    const sel = [this.o.labelSelector, this.o.fieldSelector].filter(Boolean).join(' ');
    return `informer ${this.path}${sel ? ` (${sel})` : ''}`;
  }

  /** The library's start() resolves even when its list fails (after telling the error handlers). */
  private run(): Promise<void> {
    const before = this.errors;
    const p = this.lw
      .start()
      .then(
        () => {
          if (this.errors === before && !this.stopped) this.healthy = true;
        },
        (err: unknown) => this.failed(err),
      )
      .finally(() => {
        if (this.running === p) this.running = undefined;
      });
    this.running = p;
    return p;
  }

  private failed(err: unknown): void {
    this.errors++;
    this.healthy = false;
    // stop() aborts the watch, which the library reports as an error.
    if (this.stopped) return;
    this.lastError = errorText(err);
    this.o.log?.warn({ informer: this.path, err: this.lastError }, 'list or watch failed; restarting');
    if (this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) void this.run();
    }, this.o.restartDelayMs ?? RESTART_DELAY_MS);
    this.restartTimer.unref();
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code =
      (err as { code?: unknown; statusCode?: unknown }).statusCode ?? (err as { code?: unknown }).code;
    const cause = (err as { cause?: unknown }).cause;
    return [
      err.message,
      code !== undefined ? `(${String(code)})` : '',
      cause instanceof Error ? `: ${cause.message}` : '',
    ]
      .filter(Boolean)
      .join(' ');
  }
  return String(err);
}

/**
 * A SyncedInformer, in the shape of the library's makeInformer plus a field
 * selector and a trim hook. The chart's RBAC test finds the resources a
 * component watches by calls to this name (`makeInformer(kc, '/api/v1/<resource>'`).
 */
export function makeInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  options: InformerOptions<T> = {},
): SyncedInformer<T> {
  return new SyncedInformer(kc, path, list, options);
}
