import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** What the diff needs to know about one file of a root filesystem. */
export interface FileFacts {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mtimeMs: number;
}

export type Listing = Map<string, FileFacts>;

export interface RootfsDiff {
  /** Paths (relative to the rootfs) that are new or changed: they go into rootfs-diff.tar. */
  changed: string[];
  /** Paths the container deleted: they go into deleted.files. */
  deleted: string[];
}

/**
 * What a container did to its root filesystem, compared with the image it
 * started from: the part of its state that lives outside memory.
 */
export function diffListings(base: Listing, current: Listing): RootfsDiff {
  const changed: string[] = [];
  for (const [path, facts] of current) {
    const was = base.get(path);
    if (!was) {
      changed.push(path);
      continue;
    }
    if (facts.type === 'dir' && was.type === 'dir') continue;
    if (facts.type !== was.type || facts.size !== was.size || facts.mtimeMs !== was.mtimeMs)
      changed.push(path);
  }
  // A deleted directory's children are implied by the directory itself.
  const deletedSet = new Set([...base.keys()].filter((p) => !current.has(p)));
  const topDeleted = [...deletedSet].filter((p) => !deletedSet.has(parentOf(p)));
  return { changed: changed.sort(), deleted: topDeleted.sort() };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '' : path.slice(0, i);
}

/** Walks a root filesystem (without following symlinks) into a listing keyed by relative path. */
export async function listRootfs(
  root: string,
  skip: (rel: string) => boolean = () => false,
): Promise<Listing> {
  const out: Listing = new Map();
  async function walk(rel: string): Promise<void> {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (skip(childRel)) continue;
      const st = await lstat(join(root, childRel));
      const type = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : 'other';
      out.set(childRel, { type, size: st.size, mtimeMs: st.mtimeMs });
      if (type === 'dir') await walk(childRel);
    }
  }
  await walk('');
  return out;
}
