import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import {
  checkpointIdSchema,
  checkpointRequestSchema,
  type NodeCapabilities,
  releaseRequestSchema,
  restoreRequestSchema,
} from '../common/agent-api.js';
import type { CallerAuthenticator } from './auth.js';
import type { CheckpointRestore } from './checkpoint-restore.js';
import { AgentFailure } from './errors.js';
import type { CheckpointRuntime } from './runtimes/runtime.js';

export interface AgentServerOptions {
  service: CheckpointRestore;
  auth: CallerAuthenticator;
  runtime: CheckpointRuntime;
  /** What the node can do, as last measured. */
  capabilities?: (() => Promise<NodeCapabilities>) | undefined;
  registry: Registry;
  log: Logger;
  node: string;
  /** Routes only one runtime has, behind the same authentication: the runc runtime's; none in production. */
  runtimeRoutes?: RuntimeRoutes | undefined;
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
}

/** Checks the caller of a route before its body is read. */
export type Authenticate = (req: FastifyRequest) => Promise<void>;
export type RuntimeRoutes = (app: FastifyInstance, authenticate: Authenticate) => void;

const checkpointIdParams = z.object({ checkpointId: checkpointIdSchema });
/** A status read may wait this long for the checkpoint to end (long poll). */
const statusQuery = z.object({ waitSeconds: z.coerce.number().min(0).max(60).default(0) });

/** A request's part, valid, or `bad-request` naming every field that is not. */
export function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new AgentFailure('bad-request', why);
  }
  return r.data;
}

/**
 * One port: the worker-facing API (authenticated) and the probes/metrics
 * (open, as kubelet probes and Prometheus expect).
 */
export function buildAgentServer(o: AgentServerOptions): FastifyInstance {
  // Routes do not depend on the transport; one instance type keeps the handlers' types simple.
  const app = (
    o.tls
      ? Fastify({ logger: false, https: { cert: o.tls.cert, key: o.tls.key } })
      : Fastify({ logger: false })
  ) as FastifyInstance;

  // An onRequest hook: a caller is authenticated before its body is read or parsed.
  const authenticate: Authenticate = async (req) => {
    const caller = await o.auth.authenticate(req.headers.authorization);
    o.log.debug({ caller, url: req.url }, 'authenticated');
  };

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof AgentFailure) return reply.code(err.httpStatus).send(err.toBody());
    const e = err as { statusCode?: number; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(400).send({ error: 'bad-request', message: e.message ?? 'bad request' });
    }
    o.log.error({ err, url: req.url }, 'unexpected error');
    return reply.code(500).send({ error: 'runtime-failed', message: e.message ?? String(err) });
  });

  app.get('/healthz', async () => ({ status: 'ok', node: o.node }));
  // Ready when the node can do at least one half of a migration: a node that can only restore (or only
  // checkpoint) is still useful, and the worker reads /v1/capabilities for which.
  app.get('/readyz', async (_req, reply) => {
    const runtime = await o.runtime.ready().catch((err: Error) => err.message);
    const caps = o.capabilities ? await o.capabilities().catch(() => undefined) : undefined;
    const summary = (c: { ok: boolean; reason?: string | undefined } | undefined) =>
      c === undefined ? 'unknown' : c.ok ? 'ok' : (c.reason ?? 'no');
    const checks = {
      runtime: runtime === true ? 'ok' : runtime,
      ...(o.capabilities
        ? {
            checkpoint: summary(caps?.checkpoint),
            restore: summary(caps?.restore),
            containerRuntime: caps ? `${caps.runtime.name} ${caps.runtime.version}` : 'unknown',
          }
        : {}),
    };
    const ready =
      runtime === true && (!o.capabilities || caps?.checkpoint.ok === true || caps?.restore.ok === true);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', o.registry.contentType);
    return o.registry.metrics();
  });

  // `Prefer: respond-async` (RFC 7240): 202 with the admission at once, the end read from GET below.
  // Without it the call answers with the stored manifest, as before; a refusal is immediate either way.
  app.post('/v1/checkpoints', { onRequest: authenticate }, async (req, reply) => {
    const started = await o.service.startCheckpoint(parse(checkpointRequestSchema, req.body));
    if (/\brespond-async\b/.test(String(req.headers.prefer ?? ''))) {
      return reply.code(202).send(started.status);
    }
    return started.stored;
  });
  app.get('/v1/checkpoints/:checkpointId', { onRequest: authenticate }, async (req) => {
    const { checkpointId } = parse(checkpointIdParams, req.params);
    const { waitSeconds } = parse(statusQuery, req.query);
    return o.service.checkpointStatus(checkpointId, waitSeconds * 1000);
  });
  app.post('/v1/restores', { onRequest: authenticate }, async (req) =>
    o.service.restore(parse(restoreRequestSchema, req.body)),
  );
  app.post('/v1/releases', { onRequest: authenticate }, async (req) =>
    o.service.release(parse(releaseRequestSchema, req.body)),
  );
  app.get('/v1/capabilities', { onRequest: authenticate }, async () => {
    if (!o.capabilities) throw new AgentFailure('not-found', 'this agent does not measure its capabilities');
    return o.capabilities();
  });

  o.runtimeRoutes?.(app, authenticate);
  return app;
}
