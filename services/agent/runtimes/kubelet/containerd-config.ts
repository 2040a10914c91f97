import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { ContainerdRestoreSetting } from '../../runtime-support.js';

const CRI_RUNTIME_PLUGIN = 'io.containerd.cri.v1.runtime';
const RESTORE_KEY = 'enable_experimental_restore_via_create';
/** A containerd config is a few KiB; anything far larger is not one. */
const MAX_CONFIG_BYTES = 1 << 20;

export interface ContainerdConfigScan {
  /** The flag's value where set (the last assignment wins, as containerd merges imports in order). */
  restoreViaCreate?: boolean | undefined;
  /** Files named by `imports = [...]`, in order. */
  imports: string[];
}

/** Table header -> its dotted path, unquoted: [plugins."io.containerd.cri.v1.runtime"] -> plugins / io.containerd.cri.v1.runtime. */
function tablePath(header: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/gy;
  re.lastIndex = 0;
  while (re.lastIndex < header.length) {
    const m = re.exec(header);
    if (!m) break;
    parts.push(m[1] ?? m[2] ?? m[3] ?? '');
  }
  return parts;
}

/**
 * Reads the one setting the agent needs from containerd's TOML: the restore
 * opt-in under the CRI runtime plugin, as a table key or a dotted key, and
 * the imports (drop-ins) that may set it instead. Not a TOML parser: enough
 * for the files containerd's own `config default` and nodeadm write.
 */
export function scanContainerdConfig(text: string): ContainerdConfigScan {
  const out: ContainerdConfigScan = { imports: [] };
  let table: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const header = /^\[\[?\s*(.+?)\s*\]\]?$/.exec(line);
    if (header) {
      table = tablePath(header[1]!);
      continue;
    }
    const kv = /^(.+?)\s*=\s*(.+)$/.exec(line);
    if (!kv) continue;
    const key = [...table, ...tablePath(kv[1]!)];
    let value = kv[2]!;
    if (key.length === 1 && key[0] === 'imports') {
      // An array may span lines.
      while (!value.includes(']') && i + 1 < lines.length) value += lines[++i]!;
      for (const m of value.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g)) out.imports.push(m[1] ?? m[2]!);
      continue;
    }
    const n = key.length;
    if (
      n >= 3 &&
      key[n - 1] === RESTORE_KEY &&
      key[n - 2] === CRI_RUNTIME_PLUGIN &&
      key[n - 3] === 'plugins'
    ) {
      if (value === 'true') out.restoreViaCreate = true;
      else if (value === 'false') out.restoreViaCreate = false;
    }
  }
  return out;
}

async function readBounded(path: string): Promise<string> {
  const st = await stat(path);
  if (st.size > MAX_CONFIG_BYTES)
    throw new Error(`${path} is ${st.size} bytes, too large for a containerd config`);
  return readFile(path, 'utf8');
}

/** Expands an import: an absolute or config-relative path whose last part may hold `*`. */
async function expandImport(pattern: string, configDir: string, hostRoot: string): Promise<string[]> {
  const abs = isAbsolute(pattern) ? pattern : join(configDir, pattern);
  const file = basename(abs);
  if (!file.includes('*')) return [abs];
  const dir = dirname(abs);
  const re = new RegExp(
    `^${file
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  const names = await readdir(join(hostRoot, dir)).catch(() => [] as string[]);
  return names
    .filter((n) => re.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * The restore opt-in as the node's containerd sees it: its main config
 * (mounted from the host under `hostRoot`) and the files it imports.
 * undefined when the main config is not there to read.
 */
export async function readContainerdRestoreSetting(
  configPath: string,
  hostRoot = '',
): Promise<ContainerdRestoreSetting | undefined> {
  let main: string;
  try {
    main = await readBounded(join(hostRoot, configPath));
  } catch {
    return undefined;
  }
  const scan = scanContainerdConfig(main);
  let enabled = scan.restoreViaCreate;
  const sources = [configPath];
  for (const pattern of scan.imports) {
    for (const file of await expandImport(pattern, dirname(configPath), hostRoot)) {
      const text = await readBounded(join(hostRoot, file)).catch(() => undefined);
      if (text === undefined) continue;
      sources.push(file);
      const v = scanContainerdConfig(text).restoreViaCreate;
      if (v !== undefined) enabled = v;
    }
  }
  return { enabled: enabled === true, source: sources.join(', ') };
}
