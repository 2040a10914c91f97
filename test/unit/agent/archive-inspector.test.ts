import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ArchiveInspector,
  MAX_METADATA_BYTES,
  missingForRestore,
  normaliseMemberName,
} from '../../../services/agent/archive-inspector.js';

/** Feeds the inspector in uneven chunks, as a download delivers them. */
function inspect(bytes: Buffer, chunk = 777) {
  const i = new ArchiveInspector();
  for (let off = 0; off < bytes.length; off += chunk) i.update(bytes.subarray(off, off + chunk));
  return i.finish();
}

describe('checkpoint archive inspection', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'archive-inspector-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** An archive laid out as containerd 2.2 writes it (tar of a directory, entries without ./). */
  async function containerdArchive(name: string, extra: (root: string) => Promise<void> = async () => {}) {
    const root = join(dir, name);
    await mkdir(join(root, 'checkpoint'), { recursive: true });
    await writeFile(join(root, 'checkpoint', 'pages-1.img'), Buffer.alloc(70_000, 7));
    await writeFile(join(root, 'checkpoint', 'inventory.img'), 'inv');
    await writeFile(join(root, 'config.dump'), JSON.stringify({ id: 'abc', rootfsImageName: 'counter:1' }));
    await writeFile(join(root, 'spec.dump'), JSON.stringify({ ociVersion: '1.2.0' }));
    await writeFile(join(root, 'status.dump'), JSON.stringify({ metadata: { name: 'app' } }));
    await writeFile(join(root, 'status'), '{}');
    await writeFile(join(root, 'stats-dump'), 'x');
    await writeFile(join(root, 'dump.log'), 'log');
    await writeFile(join(root, 'container.log'), 'log');
    await writeFile(join(root, 'rootfs-diff.tar'), Buffer.alloc(1024));
    await extra(root);
    const out = join(dir, `${name}.tar`);
    execFileSync('tar', ['-C', root, '-cf', out, ...(await readdirSorted(root))]);
    return readFile(out);
  }

  async function readdirSorted(root: string) {
    const { readdir } = await import('node:fs/promises');
    return (await readdir(root)).sort();
  }

  test("lists containerd's archive, keeps its metadata and knows who made it", async () => {
    const facts = inspect(await containerdArchive('ok'));
    assert.equal(facts.problem, undefined);
    assert.equal(facts.madeBy, 'containerd');
    assert.ok(facts.members.includes('checkpoint/pages-1.img'));
    assert.ok(facts.members.includes('status.dump'));
    assert.deepEqual(JSON.parse(facts.files.get('config.dump')!.toString()), {
      id: 'abc',
      rootfsImageName: 'counter:1',
    });
    assert.equal(facts.files.has('checkpoint/pages-1.img'), false, 'memory pages are never held');
    assert.deepEqual(missingForRestore(facts), []);
    // One byte at a time gives the same answer as big chunks.
    assert.deepEqual(inspect(await readFile(join(dir, 'ok.tar')), 1).members, facts.members);
  });

  test('an archive with deleted.files (CRI-O, or the runc runtime) is not containerd-made', async () => {
    const facts = inspect(
      await containerdArchive('crio', async (root) => {
        await rm(join(root, 'status'));
        await writeFile(join(root, 'deleted.files'), '[]');
      }),
    );
    assert.equal(facts.problem, undefined);
    assert.equal(facts.madeBy, 'cri-o or runc');
  });

  test('refuses links, foreign members, oversized metadata and truncation', async () => {
    const link = inspect(
      await containerdArchive('link', (root) => symlink('/etc/shadow', join(root, 'checkpoint', 'evil'))),
    );
    assert.match(link.problem!, /checkpoint\/evil is not a regular file or directory/);
    const foreign = inspect(
      await containerdArchive('foreign', (root) => writeFile(join(root, 'authorized_keys'), 'ssh-ed25519')),
    );
    assert.match(foreign.problem!, /authorized_keys is not part of a checkpoint archive/);
    const big = inspect(
      await containerdArchive('big', (root) =>
        writeFile(join(root, 'spec.dump'), Buffer.alloc(MAX_METADATA_BYTES + 1, 32)),
      ),
    );
    assert.match(big.problem!, /spec\.dump is \d+ bytes/);
    const whole = await readFile(join(dir, 'ok.tar'));
    assert.match(inspect(whole.subarray(0, 40_000)).problem!, /ends in the middle of a member/);
  });

  test('refuses more members than any checkpoint holds, and an extended header past 64 KiB', () => {
    // Headers written by hand: a tar of 100,001 files would take this test longer than the check does.
    const header = (name: string, size: number, type: string) => {
      const h = Buffer.alloc(512);
      h.write(name, 0, 'utf8');
      h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
      h.write(type, 156, 'latin1');
      return h;
    };
    const members = Array.from({ length: 100_001 }, (_, i) => header(`checkpoint/f${i}`, 0, '0'));
    const many = inspect(Buffer.concat(members), 1 << 20);
    assert.match(many.problem!, /more than 100000 members/);
    assert.equal(many.members.length, 100_000);

    const pax = inspect(header('PaxHeaders/x', 64 * 1024 + 1, 'x'));
    assert.match(pax.problem!, /an extended header of 65537 bytes/);
  });

  test('says what a restore needs and the archive lacks', async () => {
    const facts = inspect(
      await containerdArchive('partial', async (root) => {
        await rm(join(root, 'spec.dump'));
        await rm(join(root, 'checkpoint'), { recursive: true });
      }),
    );
    assert.deepEqual(missingForRestore(facts), ['spec.dump', 'checkpoint/']);
  });

  test('member names that could leave the image root are refused', () => {
    assert.equal(normaliseMemberName('./checkpoint/pages-1.img'), 'checkpoint/pages-1.img');
    assert.equal(normaliseMemberName('checkpoint/'), 'checkpoint');
    assert.equal(normaliseMemberName('./'), '.');
    assert.equal(normaliseMemberName('/etc/passwd'), undefined);
    assert.equal(normaliseMemberName('checkpoint/../../etc'), undefined);
  });
});
