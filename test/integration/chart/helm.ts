/**
 * The chart under test, rendered by a real helm (built from its Go module
 * into the tools cache by infra/lib/build-helm.sh), and a minimal client for
 * the local kube-apiserver's server-side dry run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, loadYaml } from '@kubernetes/client-node';
import { stackEnv } from '../../support/stack.js';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const chartDir = join(repoRoot, 'charts/spot-rescue');
export const exampleFiles = readdirSync(join(chartDir, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(chartDir, 'examples', f));

let helmPath: string | undefined;

/** Builds helm on first use (a no-op when cached) and returns its path. */
export function helmBinary(): string {
  if (helmPath) return helmPath;
  const env = { ...process.env, SPOT_RESCUE_TOOLS_DIR: stackEnv().toolsDir };
  const out = execFileSync('bash', [join(repoRoot, 'infra/lib/build-helm.sh'), '--print-path'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  helmPath = out.trim().split('\n').at(-1)!;
  return helmPath;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    // helm must not find or write anything of the user's: a private home for its caches.
    env: { PATH: process.env['PATH'] ?? '', HOME: join(stackEnv().stateDir, 'helm-home') },
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  /** The document exactly as helm rendered it (what the dry run sends). */
  yaml: string;
  [key: string]: unknown;
}

export const KUBE_VERSION = '1.34.0';

/** `helm template` with the given values files and --set pairs; throws with helm's message on failure. */
export function renderChart(o: {
  release?: string;
  namespace: string;
  values?: string[];
  set?: string[];
}): K8sObject[] {
  const args = [
    'template',
    o.release ?? 'rescue',
    chartDir,
    '--namespace',
    o.namespace,
    '--kube-version',
    KUBE_VERSION,
  ];
  for (const v of o.values ?? []) args.push('--values', v);
  for (const s of o.set ?? []) args.push('--set', s);
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout
    .split(/^---[ \t]*$/m)
    .filter((doc) => doc.split('\n').some((l) => l.trim() !== '' && !l.trim().startsWith('#')))
    .map((doc) => {
      // loadYaml returns client-node's model classes; plain JSON keeps assertions about data, not prototypes.
      const obj = JSON.parse(JSON.stringify(loadYaml(doc))) as K8sObject;
      Object.defineProperty(obj, 'yaml', { value: doc, enumerable: false });
      return obj;
    });
}

export function find(objects: K8sObject[], kind: string, nameSuffix: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name.endsWith(nameSuffix));
  if (!o) throw new Error(`no ${kind} named *${nameSuffix} in the rendered chart`);
  return o;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A raw request to the local kube-apiserver as the stack's admin. */
export async function kubeRequest(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
) {
  const kc = new KubeConfig();
  kc.loadFromFile(stackEnv().kubeconfig);
  const server = new URL(kc.getCurrentCluster()!.server);
  const opts: https.RequestOptions = {
    method,
    hostname: server.hostname,
    port: server.port,
    path,
    headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
  };
  await kc.applyToHTTPSOptions(opts);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise<ApiResponse>((resolve, reject) => {
    const req = https.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discovery = new Map<string, ApiResource[] | null>();

/** The resource (plural, scope) of a kind as the API server itself publishes it; null when the group/version is unknown. */
export async function resourceFor(apiVersion: string, kind: string): Promise<ApiResource | null> {
  if (!discovery.has(apiVersion)) {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const r = await kubeRequest('GET', path);
    discovery.set(apiVersion, r.status === 200 ? (r.body as { resources: ApiResource[] }).resources : null);
  }
  const list = discovery.get(apiVersion);
  if (!list) return null;
  return list.find((x) => x.kind === kind && !x.name.includes('/')) ?? null;
}

/**
 * `kubectl apply --server-side --dry-run=server --validate=strict` for one
 * object: the API server runs defaulting, schema validation, admission and
 * RBAC escalation checks, and persists nothing.
 */
export async function serverSideDryRunApply(obj: K8sObject): Promise<ApiResponse> {
  const res = await resourceFor(obj.apiVersion, obj.kind);
  if (!res) throw new Error(`the API server does not serve ${obj.apiVersion} ${obj.kind}`);
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = res.namespaced ? `/namespaces/${obj.metadata.namespace}` : '';
  const q = 'dryRun=All&fieldManager=spot-rescue-chart-test&fieldValidation=Strict&force=true';
  const path = `${base}${ns}/${res.name}/${encodeURIComponent(obj.metadata.name)}?${q}`;
  return kubeRequest('PATCH', path, obj.yaml, 'application/apply-patch+yaml');
}
