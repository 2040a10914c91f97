import {
  ApiException,
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
 * The HTTP status of a failed Kubernetes API call (404 gone, 409 conflict or
 * already there, 429 refused by a PodDisruptionBudget...): API errors are told
 * apart by it, never by their message.
 */
export const statusOf = (err: unknown): number | undefined =>
  err instanceof ApiException ? err.code : (err as { code?: number })?.code;

type Authenticate = (context: RequestContext) => Promise<void>;

/**
 * `authenticate` (a KubeConfig's), handing every request one dispatcher: the
 * first the client library built. The library builds a new undici Agent for
 * every request, so each would open its own connection and pay a TLS
 * handshake on both ends, and leave the connection idle for seconds after.
 * The dispatcher carries the kubeconfig's TLS settings (CA, client
 * certificate), so one reused for the same KubeConfig is equivalent; undici
 * keeps its connection alive and multiplexes requests over HTTP/2.
 * Authentication headers are still applied per request.
 */
export function reusingFirstDispatcher(authenticate: Authenticate): Authenticate {
  let shared: ReturnType<RequestContext['getDispatcher']>;
  return async (context) => {
    await authenticate(context);
    const made = context.getDispatcher();
    // None: plain HTTP, where undici's global dispatcher already keeps connections alive.
    if (!made) return;
    shared ??= made;
    if (made !== shared) void made.close();
    context.setDispatcher(shared);
  };
}

/**
 * An API client whose every request gives up after `timeoutMs`, all of them
 * over the connections of one dispatcher. The library
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
      authMethods: {
        default: {
          getName: () => kc.getName(),
          applySecurityAuthentication: reusingFirstDispatcher((c) => kc.applySecurityAuthentication(c)),
        },
      },
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
