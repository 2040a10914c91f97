import { ConfigError, type SettingsSpec } from '../common/config.js';

export interface EffectiveSetting {
  env: string;
  /** As the service would see it, with any password in a URL masked; null when unset and without default. */
  value: string | null;
  source: 'environment' | 'default' | 'unset';
  doc: string;
}

/** Passwords ride in Redis URLs (rediss://:secret@host): never print them. */
export function redact(value: string): string {
  return value
    .replace(/([?&]sentinelPassword=)[^&]*/g, '$1***')
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_, scheme: string, userinfo: string) => {
      const user = userinfo.split(':')[0] ?? '';
      return `${scheme}${user}${userinfo.includes(':') ? ':***' : ''}@`;
    });
}

const show = (v: unknown): string =>
  redact(
    Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v),
  );

/**
 * Every setting of a component with the value it takes and where that comes
 * from; a setting that does not validate (or is required and missing) makes
 * the whole command fail with every problem named, as the service would at
 * start, before anything is printed.
 */
export function effectiveSettings(spec: SettingsSpec, env: NodeJS.ProcessEnv): EffectiveSetting[] {
  const problems: string[] = [];
  const out: EffectiveSetting[] = [];
  for (const s of Object.values(spec)) {
    const raw = env[s.env];
    const given = raw !== undefined && raw !== '';
    const parsed = s.schema.safeParse(given ? raw : undefined);
    if (!parsed.success) {
      const why = given ? parsed.error.issues.map((i) => i.message).join('; ') : 'required, not set';
      problems.push(`${s.env}: ${why} (${s.doc})`);
      continue;
    }
    out.push({
      env: s.env,
      value: parsed.data === undefined ? null : show(parsed.data),
      source: given ? 'environment' : parsed.data === undefined ? 'unset' : 'default',
      doc: s.doc,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

export function formatSettings(rows: readonly EffectiveSetting[]): string {
  const width = Math.max(...rows.map((r) => r.env.length));
  return `${rows.map((r) => `${r.env.padEnd(width)}  ${r.value ?? '-'}  (${r.source})`).join('\n')}\n`;
}

/** The settings of each component, loaded only when asked for (the worker's pulls in its AWS clients). */
export const COMPONENT_SETTINGS: Record<string, () => Promise<SettingsSpec>> = {
  listener: async () => (await import('../listener/settings.js')).listenerSettings,
  worker: async () => (await import('../worker/service.js')).allWorkerSettings,
  agent: async () => (await import('../agent/settings.js')).agentSettings,
};
