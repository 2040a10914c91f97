import { parse, type RuntimeRoutes } from '../../server.js';
import { type LocalContainers, startContainerSchema } from './local-containers.js';

/**
 * `/v1/local/containers`: the kubelet's part on a simulated node (start a
 * pod's container, read its state, remove it), so the local stack, the demo
 * and the tests have containers to migrate. Only a runc agent has them.
 */
export function localContainerRoutes(local: LocalContainers, node: string): RuntimeRoutes {
  return (app, authenticate) => {
    type Key = { namespace: string; pod: string; container: string };
    app.post('/v1/local/containers', { onRequest: authenticate }, async (req, reply) => {
      const status = await local.start(parse(startContainerSchema, req.body), node);
      return reply.code(201).send(status);
    });
    app.get<{ Params: Key }>(
      '/v1/local/containers/:namespace/:pod/:container',
      { onRequest: authenticate },
      async (req) => local.status(req.params.namespace, req.params.pod, req.params.container),
    );
    app.delete<{ Params: Key }>(
      '/v1/local/containers/:namespace/:pod/:container',
      { onRequest: authenticate },
      async (req, reply) => {
        await local.remove(req.params.namespace, req.params.pod, req.params.container);
        return reply.code(204).send();
      },
    );
  };
}
