import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<boolean | string>;

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Each check answers true when ready, or a reason (string/false) when not. */
  readiness: Record<string, ReadinessCheck>;
}

/** /healthz (the process is alive), /readyz (every dependency answers), /metrics (Prometheus). */
export async function startOpsServer(o: OpsServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const results: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(o.readiness).map(async ([name, check]) => {
        try {
          const r = await check();
          results[name] = r === true ? 'ok' : String(r || 'not ready');
          if (r !== true) ready = false;
        } catch (err) {
          results[name] = (err as Error).message;
          ready = false;
        }
      }),
    );
    return reply.code(ready ? 200 : 503).send({ ready, checks: results });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', o.registry.contentType);
    return o.registry.metrics();
  });
  await app.listen({ host: o.host, port: o.port });
  return app;
}
