import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig file when given (local stack, operators), the in-cluster identity otherwise. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
