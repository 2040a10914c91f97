import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

const MAX_CONNECTIONS = 64;

/**
 * @kubernetes/client-node builds a new undici Agent for every API call, so
 * every call opens a new connection and pays a TLS handshake (on both ends):
 * under a burst of node patches that dominated the listener's latency. This
 * keeps one keep-alive dispatcher per KubeConfig, with the library's own TLS
 * options for the current cluster and user (CA, client certificate), and hands
 * it to every request. Authentication headers are still applied per request by
 * the library. Through a proxy the library's dispatcher is reused as it is.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const apply = kc.applySecurityAuthentication.bind(kc);
  let shared: Promise<Dispatcher> | undefined;
  kc.applySecurityAuthentication = async (context) => {
    await apply(context);
    const made = context.getDispatcher();
    // No dispatcher: plain HTTP, where undici's global one already keeps connections alive.
    if (!made) return;
    shared ??= sharedDispatcher(kc, made);
    const dispatcher = await shared;
    if (dispatcher !== made) void made.close();
    context.setDispatcher(dispatcher);
  };
  return kc;
}

async function sharedDispatcher(kc: KubeConfig, made: Dispatcher): Promise<Dispatcher> {
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = tls;
  const options = kc.createDispatcherOptions(kc.getCurrentCluster(), {
    ca,
    cert,
    key,
    pfx,
    passphrase,
    rejectUnauthorized,
    servername,
  });
  if (options.type !== 'agent') return made;
  return new Agent({ connect: options.connect, connections: MAX_CONNECTIONS });
}
