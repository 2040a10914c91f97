/**
 * Self-managed Redis with Sentinel: `redis+sentinel://[[user]:password@]host:port[,host:port...]/<master>[?db=N&sentinelPassword=...]`
 * (`rediss+sentinel://` for TLS to both the sentinels and the data nodes).
 * The sentinels are asked which server is the master, and asked again after a
 * failover, so the URL names the sentinels, never a data node.
 */
export interface SentinelUrl {
  sentinels: { host: string; port: number }[];
  /** The master's name as the sentinels know it (`sentinel monitor <name> ...`). */
  name: string;
  username?: string;
  password?: string;
  sentinelPassword?: string;
  db: number;
  tls: boolean;
}

const SCHEME = /^(rediss?)\+sentinel:\/\//i;

export function isSentinelUrl(url: string): boolean {
  return SCHEME.test(url);
}

/** Undefined for any other URL; throws, naming what is wrong, for a malformed sentinel URL. */
export function parseSentinelUrl(url: string): SentinelUrl | undefined {
  const scheme = SCHEME.exec(url);
  if (!scheme) return undefined;
  const bad = (why: string) => new Error(`invalid Redis Sentinel URL: ${why} (expected ${FORM})`);
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@', rest.indexOf('/') === -1 ? rest.length : rest.indexOf('/'));
  const userinfo = at === -1 ? '' : rest.slice(0, at);
  const afterAuth = at === -1 ? rest : rest.slice(at + 1);
  const slash = afterAuth.indexOf('/');
  if (slash === -1) throw bad('no master name');
  const hosts = afterAuth.slice(0, slash);
  const [path = '', query = ''] = afterAuth.slice(slash + 1).split('?', 2);
  const name = decodeURIComponent(path);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw bad(`master name ${JSON.stringify(name)}`);

  const sentinels = hosts.split(',').map((h) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(h.trim());
    const port = Number(m?.[2] ?? 26379);
    if (!m || port < 1 || port > 65535) throw bad(`sentinel address ${JSON.stringify(h)}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });

  const params = new URLSearchParams(query);
  const db = Number(params.get('db') ?? 0);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw bad(`db ${JSON.stringify(params.get('db'))}`);
  for (const key of params.keys()) {
    if (key !== 'db' && key !== 'sentinelPassword') throw bad(`unknown parameter ${key}`);
  }

  const colon = userinfo.indexOf(':');
  const username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? '' : decodeURIComponent(userinfo.slice(colon + 1));
  const sentinelPassword = params.get('sentinelPassword');
  return {
    sentinels,
    name,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    db,
    tls: scheme[1]!.toLowerCase() === 'rediss',
  };
}

const FORM = 'redis+sentinel://[:password@]host:port[,host:port...]/<master>[?db=N&sentinelPassword=...]';
