import { parse, type RuntimeRoutes } from '../../server.js';
import { type LocalContainers, localContainerKeySchema, startContainerSchema } from './local-containers.js';

/**
 * `/v1/local/containers`: the kubelet's part on a simulated node (start a
 * pod's container, read its state, remove it), so the local stack, the demo
 * and the tests have containers to migrate. Only a runc agent has them.
 */
export function localContainerRoutes(local: LocalContainers, node: string): RuntimeRoutes {
  return (app, authenticate) => {
    app.post('/v1/local/containers', { onRequest: authenticate }, async (req, reply) => {
      const status = await local.start(parse(startContainerSchema, req.body), node);
      return reply.code(201).send(status);
    });
    // URL parameters arrive percent-decoded: `..%2F..` is a parameter with slashes in it.
    app.get('/v1/local/containers/:namespace/:pod/:container', { onRequest: authenticate }, async (req) => {
      const { namespace, pod, container } = parse(localContainerKeySchema, req.params);
      return local.status(namespace, pod, container);
    });
    app.delete(
      '/v1/local/containers/:namespace/:pod/:container',
      { onRequest: authenticate },
      async (req, reply) => {
        const { namespace, pod, container } = parse(localContainerKeySchema, req.params);
        await local.remove(namespace, pod, container);
        return reply.code(204).send();
      },
    );
  };
}
