import {
  type Configuration,
  createConfiguration,
  KubeConfig,
  type RequestContext,
  ServerConfiguration,
} from '@kubernetes/client-node';

/** A kubeconfig file when given (local stack, operators), the in-cluster identity otherwise. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/**
 * An API client whose every request gives up after `timeoutMs`. The library
 * sets no timeout: a request the API server never answers (a dropped
 * connection under load) would hold a rescue job, and its pod, forever.
 * Watches are made elsewhere and are not affected.
 */
export function makeApiClientWithTimeout<T>(
  kc: KubeConfig,
  apiClientType: new (config: Configuration) => T,
  timeoutMs: number,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new apiClientType(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (context: RequestContext) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            return context;
          },
          post: async (response) => response,
        },
      ],
    }),
  );
}
