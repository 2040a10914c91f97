import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { checkpointIdSchema } from '../../../common/agent-api.js';
import {
  containerNameSchema,
  namespaceNameSchema,
  podNameSchema,
  podUidSchema,
} from '../../../common/kube-names.js';

const frozenContainerSchema = z.object({
  namespace: namespaceNameSchema,
  pod: podNameSchema,
  podUid: podUidSchema,
  container: containerNameSchema,
  /** The runtime's id of the container: what its cgroup is named after. */
  containerId: z.string().regex(/^[A-Za-z0-9_.-]{1,256}$/),
  checkpointId: checkpointIdSchema,
  frozenAt: z.string().datetime(),
});
export type FrozenContainer = z.infer<typeof frozenContainerSchema>;

const stateSchema = z.object({ version: z.literal(1), frozen: z.array(frozenContainerSchema).max(10_000) });
/** A few hundred bytes per frozen container; a larger file is not ours. */
const MAX_STATE_BYTES = 4 << 20;

export function containerKey(c: { namespace: string; pod: string; container: string }): string {
  return `${c.namespace}/${c.pod}/${c.container}`;
}

/**
 * The containers this agent froze and has not thawed, in a small file on the
 * node, so that an agent that restarts (upgrade, crash, OOM) still knows what
 * it froze: without it a frozen original would stay frozen, and Ready, for good.
 */
export class FrozenContainers {
  private readonly byKey = new Map<string, FrozenContainer>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  /** Reads the file; a missing one is an empty list, an unreadable one is set aside and reported. */
  async load(): Promise<{ problem?: string }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return {};
    }
    if (text.length > MAX_STATE_BYTES)
      return { problem: `${this.file} is larger than ${MAX_STATE_BYTES} bytes` };
    let parsed: ReturnType<typeof stateSchema.safeParse>;
    try {
      parsed = stateSchema.safeParse(JSON.parse(text));
    } catch (err) {
      return { problem: `${this.file} is not JSON: ${(err as Error).message}` };
    }
    if (!parsed.success)
      return { problem: `${this.file} is not a frozen-containers file: ${parsed.error.issues[0]?.message}` };
    for (const f of parsed.data.frozen) this.byKey.set(containerKey(f), f);
    return {};
  }

  list(): FrozenContainer[] {
    return [...this.byKey.values()];
  }

  get(key: string): FrozenContainer | undefined {
    return this.byKey.get(key);
  }

  async add(record: FrozenContainer): Promise<void> {
    this.byKey.set(containerKey(record), frozenContainerSchema.parse(record));
    await this.save();
  }

  async remove(key: string): Promise<void> {
    if (!this.byKey.delete(key)) return;
    await this.save();
  }

  /** Writes are serialised and atomic (temporary file, then rename): a crash leaves the old or the new list. */
  private save(): Promise<void> {
    const snapshot = JSON.stringify({ version: 1, frozen: this.list() });
    const write = this.writes.then(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.file);
    });
    this.writes = write.catch(() => {});
    return write;
  }
}
