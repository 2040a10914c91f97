import { AgentFailure } from './errors.js';

export interface Deadline {
  signal: AbortSignal;
  /** Stops the timer once the work is done. */
  dispose(): void;
}

/**
 * An AbortSignal that fires at `deadline` (ISO 8601) with a deadline-exceeded
 * failure as its reason, or at once if it already passed. Every stage takes
 * this signal, so nothing keeps running after the caller has given up.
 */
export function deadlineSignal(deadline: string | undefined, now = Date.now()): Deadline {
  const controller = new AbortController();
  if (deadline === undefined) return { signal: controller.signal, dispose: () => {} };
  const at = Date.parse(deadline);
  const fire = () =>
    controller.abort(
      new AgentFailure('deadline-exceeded', `deadline ${deadline} passed; the operation was abandoned`),
    );
  const ms = at - now;
  if (ms <= 0) {
    fire();
    return { signal: controller.signal, dispose: () => {} };
  }
  const timer = setTimeout(fire, ms);
  timer.unref();
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/** Throws the signal's reason when it has fired: a cheap checkpoint between stages. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) {
    throw signal.reason instanceof Error
      ? signal.reason
      : new AgentFailure('deadline-exceeded', 'deadline passed');
  }
}
