import type { KubeConfig } from '@kubernetes/client-node';
import { reusingFirstDispatcher } from '../common/kube.js';

/**
 * Every request made with this KubeConfig - API clients, informers' lists and
 * watches - shares one dispatcher and so its kept-alive connections: under a
 * burst of node patches, a TLS handshake per call dominated the listener's
 * latency. See reusingFirstDispatcher.
 */
export function withKeepAlive(kc: KubeConfig): KubeConfig {
  kc.applySecurityAuthentication = reusingFirstDispatcher(kc.applySecurityAuthentication.bind(kc));
  return kc;
}
