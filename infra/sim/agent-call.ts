/**
 * Simulation only. The worker talks to agents through its own client
 * (services/worker/agent-client.ts); the simulation calls them directly, with
 * the worker's token, to play the kubelet's part on a simulated node (start a
 * container, read its progress) and to measure them in the benchmarks.
 */

/** Calls an agent as the worker does: Bearer token, JSON in and out. */
export async function callAgent<T>(
  agentUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${agentUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
