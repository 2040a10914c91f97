/**
 * What a checkpoint archive holds, learnt while it streams past (its bytes
 * are never held): every member's name and type, the small metadata files
 * (bounded), and the first thing wrong with it. The restore refuses an
 * archive that holds anything a runtime would not write: the bytes come from
 * another node, and a verified sha256 only proves they were not changed on
 * the way, not that that node was honest.
 */

/** Files and directories the runtimes put at the top of a checkpoint archive (checkpointctl's names). */
export const KNOWN_MEMBERS = new Set([
  'checkpoint',
  'config.dump',
  'spec.dump',
  'status.dump',
  'status',
  'rootfs-diff.tar',
  'deleted.files',
  'container.log',
  'dump.log',
  'restore.log',
  'stats-dump',
  'network.status',
  'devshm-checkpoint.tar',
  'volumes',
]);

/** Small JSON members kept in memory for the restore to read. */
const CAPTURED = new Set(['config.dump', 'spec.dump', 'status.dump', 'status', 'deleted.files']);
/** Larger than any real one by far; a bigger "metadata" file is not one. */
export const MAX_METADATA_BYTES = 1 << 20;
const MAX_MEMBERS = 100_000;
const BLOCK = 512;

export interface ArchiveFacts {
  /** Normalised member names (no leading ./), in archive order. */
  members: string[];
  /** Captured metadata files by name. */
  files: Map<string, Buffer>;
  /** Who wrote it, from what it holds: containerd (status, no deleted.files) or another runtime. */
  madeBy: 'containerd' | 'cri-o or runc';
  /** The first problem found, if any. */
  problem?: string | undefined;
}

function octal(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  // GNU base-256 for sizes of 8 GiB and more.
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? Number.parseInt(text, 8) : 0;
}

function cstring(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** `./checkpoint/pages-1.img` -> `checkpoint/pages-1.img`; undefined for anything that could leave the root. */
export function normaliseMemberName(name: string): string | undefined {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  n = n.replace(/\/+$/, '');
  if (n === '' || n === '.') return '.';
  if (n.startsWith('/') || n.split('/').some((p) => p === '..' || p === '')) return undefined;
  return n;
}

export class ArchiveInspector {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of member data still to skip (or capture), then padding. */
  private dataLeft = 0;
  private padLeft = 0;
  private capture: { name: string; chunks: Buffer[]; size: number } | undefined;
  private paxPath: string | undefined;
  private longName: { chunks: Buffer[]; kind: 'pax' | 'gnu' } | undefined;
  private ended = false;
  private readonly facts: ArchiveFacts = { members: [], files: new Map(), madeBy: 'cri-o or runc' };

  private fail(problem: string): void {
    this.facts.problem ??= problem;
  }

  update(chunk: Buffer): void {
    if (this.facts.problem || this.ended) return;
    let off = 0;
    while (off < chunk.length && !this.facts.problem && !this.ended) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (this.capture) this.capture.chunks.push(Buffer.from(part));
        if (this.longName) this.longName.chunks.push(Buffer.from(part));
        this.dataLeft -= n;
        off += n;
        if (this.dataLeft === 0) this.memberDataDone();
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, chunk.length - off);
        this.padLeft -= n;
        off += n;
        continue;
      }
      const need = BLOCK - this.buf.length;
      const take = chunk.subarray(off, off + need);
      this.buf = this.buf.length === 0 ? Buffer.from(take) : Buffer.concat([this.buf, take]);
      off += take.length;
      if (this.buf.length === BLOCK) {
        const header = this.buf;
        this.buf = Buffer.alloc(0);
        const problem = this.header(header);
        if (problem) this.fail(problem);
      }
    }
  }

  private memberDataDone(): void {
    if (this.capture) {
      this.facts.files.set(this.capture.name, Buffer.concat(this.capture.chunks));
      this.capture = undefined;
    }
    if (this.longName && this.longName.chunks.length > 0) {
      const data = Buffer.concat(this.longName.chunks);
      if (this.longName.kind === 'gnu') this.paxPath = cstring(data, 0, data.length);
      else {
        for (const m of data.toString('utf8').matchAll(/\d+ ([^=]+)=([^\n]*)\n/g)) {
          if (m[1] === 'path') this.paxPath = m[2]!;
        }
      }
      this.longName = undefined;
    }
  }

  /** Returns the problem with this member, if any. */
  private header(h: Buffer): string | undefined {
    if (h.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156]!);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.dataLeft = size;
    this.padLeft = pad;
    if (type === 'x' || type === 'L') {
      if (size > 64 * 1024) return `an extended header of ${size} bytes`;
      this.longName = { chunks: [], kind: type === 'x' ? 'pax' : 'gnu' };
      if (size === 0) this.memberDataDone();
      return;
    }
    if (type === 'g') return;
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? cstring(h, 345, 155) : '';
    const rawName = this.paxPath ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100));
    this.paxPath = undefined;
    const name = normaliseMemberName(rawName);
    if (name === undefined) return `member ${JSON.stringify(rawName)} points outside the archive`;
    if (type !== '0' && type !== '\0' && type !== '5')
      return `member ${name} is not a regular file or directory (tar type ${JSON.stringify(type)})`;
    if (name === '.') return;
    const top = name.split('/')[0]!;
    if (!KNOWN_MEMBERS.has(top)) return `member ${name} is not part of a checkpoint archive`;
    if (this.facts.members.length >= MAX_MEMBERS) return `more than ${MAX_MEMBERS} members`;
    this.facts.members.push(name);
    if (name === 'status') this.facts.madeBy = 'containerd';
    if (type !== '5' && CAPTURED.has(name)) {
      if (size > MAX_METADATA_BYTES) return `${name} is ${size} bytes (at most ${MAX_METADATA_BYTES})`;
      this.capture = { name, chunks: [], size };
      if (size === 0) this.memberDataDone();
    }
    return undefined;
  }

  /** The facts once the whole archive went past; a truncated archive is a problem too. */
  finish(): ArchiveFacts {
    if (!this.facts.problem && !this.ended && (this.dataLeft > 0 || this.buf.length > 0))
      this.fail('the archive ends in the middle of a member');
    if (this.facts.members.includes('deleted.files')) this.facts.madeBy = 'cri-o or runc';
    return this.facts;
  }
}

/** What a restore needs from an archive, whoever made it. */
export function missingForRestore(facts: ArchiveFacts): string[] {
  const has = new Set(facts.members);
  const missing = ['config.dump', 'spec.dump'].filter((m) => !has.has(m));
  if (!facts.members.some((m) => m === 'checkpoint' || m.startsWith('checkpoint/')))
    missing.push('checkpoint/');
  return missing;
}
