import { z } from 'zod';
import { parseSentinelUrl } from './redis-sentinel-url.js';

/**
 * One setting: the environment variable it is read from, its schema (with a
 * default where one is safe) and a line of documentation for operators.
 */
export interface Setting<S extends z.ZodType = z.ZodType> {
  env: string;
  schema: S;
  doc: string;
}

export type SettingsSpec = Record<string, Setting>;
export type ConfigOf<T extends SettingsSpec> = { [K in keyof T]: z.output<T[K]['schema']> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function setting<S extends z.ZodType>(env: string, schema: S, doc: string): Setting<S> {
  return { env, schema, doc };
}

/**
 * Reads every setting from the environment and reports all problems at once,
 * each naming its variable, so an operator fixes a broken deployment in one go.
 */
export function readConfig<T extends SettingsSpec>(
  spec: T,
  env: NodeJS.ProcessEnv = process.env,
): ConfigOf<T> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(spec)) {
    const raw = env[s.env];
    const value = raw === undefined || raw === '' ? undefined : raw;
    const parsed = s.schema.safeParse(value);
    if (parsed.success) {
      out[key] = parsed.data;
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      const shown = value === undefined ? 'not set' : `got ${JSON.stringify(truncate(value))}`;
      problems.push(`${s.env}: ${why} (${shown}; ${s.doc})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<T>;
}

/** Markdown table of a spec, for the docs. */
export function describeSettings(spec: SettingsSpec): string {
  const rows = Object.values(spec).map((s) => {
    const d = s.schema.safeParse(undefined);
    // An optional setting parses "not set" to undefined; only one that fails without a value is required.
    const def = !d.success
      ? 'required'
      : d.data === undefined
        ? 'unset'
        : Array.isArray(d.data) && d.data.length === 0
          ? 'none'
          : `\`${Array.isArray(d.data) ? d.data.join(',') : typeof d.data === 'object' ? JSON.stringify(d.data) : String(d.data)}\``;
    return `| \`${s.env}\` | ${def} | ${s.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

function truncate(v: string): string {
  return v.length > 80 ? `${v.slice(0, 77)}...` : v;
}

// Reusable schemas for values that arrive as strings.
export const str = {
  url: () => z.url({ message: 'must be a URL' }),
  int: (min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max),
  num: (min = 0) => z.coerce.number().min(min),
  bool: () =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  list: () =>
    z.string().transform((v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    ),
};

/** Settings every service shares: where Redis, AWS and Kubernetes are, and how to log. */
export const commonSettings = {
  clusterName: setting(
    'SPOT_RESCUE_CLUSTER_NAME',
    z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$/, 'must be an EKS cluster name')
      .default('local'),
    'cluster name, used in S3 keys and metrics',
  ),
  logLevel: setting(
    'SPOT_RESCUE_LOG_LEVEL',
    z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    'pino log level',
  ),
  redisUrl: setting(
    'SPOT_RESCUE_REDIS_URL',
    z
      .string()
      .superRefine((url, ctx) => {
        try {
          if (parseSentinelUrl(url) || URL.canParse(url)) return;
          ctx.addIssue({ code: 'custom', message: 'must be a URL' });
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      })
      .default('redis://127.0.0.1:6379'),
    'Redis for BullMQ: redis[s]://, redis[s]+cluster:// (Redis Cluster) or redis[s]+sentinel://host:port,.../<master> (Sentinel)',
  ),
  queuePrefix: setting(
    'SPOT_RESCUE_QUEUE_PREFIX',
    z
      .string()
      // {name}: a hash tag, so every key of the install lands in one Redis Cluster slot.
      .regex(
        /^([a-z0-9-]+|\{[a-z0-9-]+\})$/,
        'lower-case letters, digits and dashes, or those in braces ({spot-rescue}) for Redis Cluster',
      )
      .default('spot-rescue'),
    'BullMQ key prefix',
  ),
  awsRegion: setting('AWS_REGION', z.string().min(1).default('us-east-1'), 'AWS region'),
  awsEndpoint: setting(
    'SPOT_RESCUE_AWS_ENDPOINT',
    str.url().optional(),
    'AWS endpoint override (the local stack); unset in production',
  ),
  kubeconfig: setting('KUBECONFIG', z.string().optional(), 'kubeconfig path; unset means in-cluster'),
  kubeRequestTimeoutSeconds: setting(
    'SPOT_RESCUE_KUBE_REQUEST_TIMEOUT_SECONDS',
    str.int(1, 600).default(30),
    'longest a single Kubernetes API request may take before it is abandoned (watches excepted)',
  ),
  opsPort: setting(
    'SPOT_RESCUE_OPS_PORT',
    str.int(0, 65535).default(9090),
    'port for /healthz, /readyz, /metrics',
  ),
  opsHost: setting('SPOT_RESCUE_OPS_HOST', z.string().default('0.0.0.0'), 'address the ops server binds'),
};
