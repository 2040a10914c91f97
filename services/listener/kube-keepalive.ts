import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const MAX_SOCKETS = 64;

/**
 * @kubernetes/client-node 1.x builds a new https.Agent for every API call, so
 * every call pays a TLS handshake (on both ends): under a burst of node
 * patches that dominated the listener's latency. This keeps one keep-alive
 * agent per KubeConfig, built from the TLS options of the first agent the
 * library makes (CA, client certificate), and hands it to every request.
 * Authentication headers are still applied per request by the library.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  const apply = kc.applySecurityAuthentication.bind(kc);
  let shared: HttpAgent | HttpsAgent | undefined;
  kc.applySecurityAuthentication = async (context) => {
    await apply(context);
    const made = context.getAgent();
    if (!made) return;
    if (!shared) {
      const options = { ...(made as HttpsAgent).options, keepAlive: true, maxSockets: MAX_SOCKETS };
      shared = made instanceof HttpsAgent ? new HttpsAgent(options) : new HttpAgent(options);
    }
    context.setAgent(shared);
  };
  return kc;
}
