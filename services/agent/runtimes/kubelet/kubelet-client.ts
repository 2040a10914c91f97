import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { z } from 'zod';
import { AgentFailure } from '../../errors.js';

const checkpointResponseSchema = z.object({ items: z.array(z.string().min(1)).min(1) });

export interface KubeletClientOptions {
  /** https://<node-ip>:10250 */
  url: string;
  ca?: Buffer | undefined;
  /** Read on every call: projected tokens rotate. */
  tokenFile: string;
}

/**
 * The kubelet's checkpoint API (ContainerCheckpoint, beta and on by default
 * since Kubernetes 1.30). The agent's identity needs `create` on
 * `nodes/checkpoint`, nothing broader such as `nodes/proxy`.
 */
export class KubeletClient {
  constructor(private readonly o: KubeletClientOptions) {}

  /** Returns the path of the (uncompressed) checkpoint archive on the node. */
  async checkpoint(
    namespace: string,
    pod: string,
    container: string,
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<string> {
    const { status, body } = await this.post(namespace, pod, container, timeoutSeconds, signal);
    if (status === 401 || status === 403) {
      throw new AgentFailure(
        'runtime-failed',
        `the kubelet refused the checkpoint (${status}): the agent needs create on nodes/checkpoint: ${body.trim()}`,
      );
    }
    if (status === 404) {
      throw new AgentFailure(
        'not-found',
        `the kubelet knows no container ${namespace}/${pod}/${container}: ${body.trim()}`,
      );
    }
    if (status !== 200) {
      throw new AgentFailure('runtime-failed', `kubelet checkpoint failed (${status}): ${body.trim()}`);
    }
    let parsed: z.infer<typeof checkpointResponseSchema>;
    try {
      parsed = checkpointResponseSchema.parse(JSON.parse(body));
    } catch {
      throw new AgentFailure('runtime-failed', `unexpected kubelet checkpoint answer: ${body.slice(0, 200)}`);
    }
    return parsed.items[0]!;
  }

  /**
   * Whether the checkpoint endpoint is there and lets the agent in, without
   * checkpointing anything: a pod that does not exist gets the handler's own
   * 404 "pod does not exist", while a kubelet without the ContainerCheckpoint
   * gate has no such route (404 "page not found").
   */
  async probe(signal: AbortSignal): Promise<{ ok: boolean; reason?: string }> {
    let answer: { status: number; body: string };
    try {
      answer = await this.post('kube-system', 'spot-rescue-capability-probe', 'probe', 1, signal);
    } catch (err) {
      return { ok: false, reason: `kubelet ${this.o.url} unreachable: ${(err as Error).message}` };
    }
    const { status, body } = answer;
    if (status === 404 && /pod does not exist/.test(body)) return { ok: true };
    if (status === 401 || status === 403)
      return {
        ok: false,
        reason: `the kubelet refuses the agent (${status}): it needs create on nodes/checkpoint`,
      };
    if (status === 404)
      return {
        ok: false,
        reason: 'the kubelet has no checkpoint endpoint (feature gate ContainerCheckpoint is off)',
      };
    return {
      ok: false,
      reason: `unexpected kubelet answer to a checkpoint probe (${status}): ${body.slice(0, 200)}`,
    };
  }

  private async post(
    namespace: string,
    pod: string,
    container: string,
    timeoutSeconds: number,
    signal: AbortSignal,
  ): Promise<{ status: number; body: string }> {
    const token = (await readFile(this.o.tokenFile, 'utf8')).trim();
    const path = `/checkpoint/${encodeURIComponent(namespace)}/${encodeURIComponent(pod)}/${encodeURIComponent(container)}?timeout=${Math.max(1, Math.floor(timeoutSeconds))}`;
    const url = new URL(path, this.o.url);
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          ...(this.o.ca ? { ca: this.o.ca } : {}),
          signal,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (text.length < 65_536) text += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
