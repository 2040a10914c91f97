import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AgentFailure } from './errors.js';

/**
 * A path built from a name or an archive entry that would leave the
 * directory it belongs in: refused as the caller's mistake (400), never
 * followed. Requests and archives come from other machines; a name like
 * `../../x` or a `deleted.files` entry like `/etc/x` is an attack or a bug,
 * and either way nothing outside the root is touched.
 */
export class PathOutsideRoot extends AgentFailure {
  constructor(
    readonly root: string,
    readonly parts: readonly string[],
  ) {
    super(
      'bad-request',
      `${JSON.stringify(parts.join('/'))} leads outside ${basename(root) || root}/: refused`,
    );
    this.name = 'PathOutsideRoot';
  }
}

/** Whether `path` lies strictly below `root` (both absolute and normalised). */
function isBelow(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * `root` joined with `parts`, which must end strictly below `root`:
 * absolute parts, `..` that climbs out, and parts that name the root itself
 * throw PathOutsideRoot. Lexical only (symlinks are not looked at): for
 * paths under the agent's own directories, which hold no links an outsider
 * made. For trees an archive wrote, use realPathWithin.
 */
export function resolveWithin(root: string, ...parts: string[]): string {
  const base = resolve(root);
  // An absolute part would make resolve() start again from it: refused before it can.
  if (parts.some((p) => isAbsolute(p) || p.includes('\0'))) throw new PathOutsideRoot(base, parts);
  const path = resolve(base, ...parts);
  if (!isBelow(base, path)) throw new PathOutsideRoot(base, parts);
  return path;
}

/**
 * `root` joined with `parts` as resolveWithin, and then with every symlink
 * of its parent directories followed: a tree unpacked from an archive may
 * hold a link `a -> /` that makes `a/etc/x` the host's `/etc/x`. The last
 * component is not followed (removing a link removes the link). Undefined
 * when a parent does not exist: there is nothing there to act on.
 */
export async function realPathWithin(root: string, ...parts: string[]): Promise<string | undefined> {
  const lexical = resolveWithin(root, ...parts);
  const realRoot = await realpath(resolve(root));
  let realParent: string;
  try {
    realParent = await realpath(dirname(lexical));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const path = join(realParent, basename(lexical));
  if (!isBelow(realRoot, path)) throw new PathOutsideRoot(realRoot, parts);
  return path;
}
