/**
 * The name of a checkpoint image: the target agent tags the image it makes
 * of a container's archive with it, and the worker accepts no other image
 * for a restored container.
 */
export function checkpointImageTag(
  namespace: string,
  pod: string,
  container: string,
  checkpointId: string,
): string {
  return `${namespace}-${pod}-${container}-${checkpointId}`
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .slice(0, 128);
}

export function checkpointImageRef(
  repository: string,
  namespace: string,
  pod: string,
  container: string,
  checkpointId: string,
): string {
  return `${repository}:${checkpointImageTag(namespace, pod, container, checkpointId)}`;
}
