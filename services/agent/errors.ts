import type { AgentError, RefusalPlan } from '../common/agent-api.js';

export type AgentErrorCode = AgentError['error'];

const HTTP_STATUS: Record<AgentErrorCode, number> = {
  unauthenticated: 401,
  forbidden: 403,
  'bad-request': 400,
  'not-found': 404,
  'deadline-exceeded': 504,
  'integrity-mismatch': 422,
  'runtime-failed': 500,
  'storage-failed': 502,
  conflict: 409,
  'already-exists': 409,
  unsupported: 422,
  'would-miss-deadline': 422,
};

/** A failure the agent reports to its caller as { error, message } with a fitting HTTP status. */
export class AgentFailure extends Error {
  /** would-miss-deadline: the figures the refusal was decided with, for the caller's reason and logs. */
  readonly plan: RefusalPlan | undefined;

  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; plan?: RefusalPlan },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentFailure';
    this.plan = options?.plan;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toBody(): AgentError {
    return { error: this.code, message: this.message, ...(this.plan ? { plan: this.plan } : {}) };
  }
}

/**
 * The deadline wins over whatever error an aborted stage threw: a killed
 * CRIU or an aborted upload is a symptom, the deadline is the cause.
 */
export function asAgentFailure(
  err: unknown,
  signal: AbortSignal | undefined,
  fallback: AgentErrorCode,
): AgentFailure {
  if (signal?.aborted) {
    const reason = signal.reason;
    if (reason instanceof AgentFailure) return reason;
    return new AgentFailure('deadline-exceeded', 'deadline passed; the operation was abandoned', {
      cause: err,
    });
  }
  if (err instanceof AgentFailure) return err;
  return new AgentFailure(fallback, (err as Error)?.message ?? String(err), { cause: err });
}
