/**
 * No Docker engine runs where these tests run, so the image cannot be built
 * here. This checks statically what a build would trip over or what would
 * make the image unsafe: every COPY source exists and survives .dockerignore,
 * base images are pinned by tag and digest, stages are referenced in order, the default target
 * runs as a non-root user, and the agent target carries CRIU 4.x (trixie),
 * runc, iptables and zstd.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  name: string | undefined;
  from: string;
  instructions: Instruction[];
}

/** Global ARGs by name: their default, or undefined when the build must pass one. */
type Args = Map<string, string | undefined>;

function parseDockerfile(text: string): { args: Args; stages: Stage[] } {
  const args: Args = new Map();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let l = lines[i]!.trim();
    if (l === '' || l.startsWith('#')) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i]!.trim();
      if (next.startsWith('#')) continue;
      l = `${l.slice(0, -1).trimEnd()} ${next}`;
    }
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(l);
    assert.ok(m, `Dockerfile line ${start} is not an instruction: ${l}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f, `Dockerfile line ${start}: bad FROM`);
      stages.push({ name: f[2]?.toLowerCase(), from: f[1]!, instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(op, 'ARG', `line ${start}: only ARG may precede the first FROM`);
      const a = /^(\w+)(?:=(\S+))?$/.exec(rest);
      assert.ok(a, `line ${start}: bad ARG`);
      args.set(a[1]!, a[2] === undefined ? undefined : expand(a[2], args));
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest, line: start });
    }
  }
  return { args, stages };
}

/** ${NAME} and $NAME replaced by the ARG's default; ARGs without one stay as written. */
function expand(text: string, args: Args): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (ref, braced?: string, bare?: string) => {
    const name = (braced ?? bare)!;
    assert.ok(args.has(name), `${ref} is a declared ARG`);
    return args.get(name) ?? `\${${name}}`;
  });
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Why an image reference is not pinned, or undefined when it is: a full
 * version tag (never latest) and a digest, the digest either written out or an
 * ARG the build must pass (no default) or that defaults to a digest.
 */
function pinProblem(ref: string, args: Args): string | undefined {
  const m = /^([\w./-]+):([\w.-]+)@(.+)$/.exec(ref);
  if (!m) return `${ref} is not <image>:<tag>@<digest>`;
  if (!/^\d+\.\d+\.\d+/.test(m[2]!)) return `${ref}: tag ${m[2]} is not a full version`;
  const digest = m[3]!;
  const arg = /^\$\{(\w+)\}$/.exec(digest)?.[1];
  if (arg === undefined) return DIGEST.test(digest) ? undefined : `${ref}: ${digest} is not a sha256 digest`;
  const fallback = args.get(arg);
  if (fallback !== undefined && !DIGEST.test(fallback))
    return `${ref}: ARG ${arg} defaults to ${fallback}, not a digest`;
  return undefined;
}

/** .dockerignore semantics: the last matching pattern wins, `!` re-includes, a match on a directory covers what is under it. */
function dockerIgnored(path: string, patterns: string[]): boolean {
  const toRegex = (glob: string) => {
    let re = '';
    const g = glob.replace(/^\/+/, '');
    for (let i = 0; i < g.length; i++) {
      const c = g[i]!;
      if (c === '*' && g[i + 1] === '*') {
        // `**/` matches any number of directories, `**` anything.
        if (g[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c;
    }
    return new RegExp(`^${re}$`);
  };
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const re = toRegex(negated ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) ignored = !negated;
  }
  return ignored;
}

function filesUnder(dir: string): string[] {
  const abs = join(root, dir);
  if (!statSync(abs).isDirectory()) return [dir];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const ignorePatterns = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

const stageByName = (name: string) => {
  const s = dockerfile.stages.find((x) => x.name === name);
  assert.ok(s, `Dockerfile has a stage named ${name}`);
  return s;
};
const runs = (s: Stage) =>
  s.instructions
    .filter((i) => i.op === 'RUN')
    .map((i) => i.args)
    .join('\n');
const lastUser = (s: Stage): string | undefined => {
  // USER is inherited from the stage a stage is built FROM.
  const own = s.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
  if (own !== undefined) return own;
  const parent = dockerfile.stages.find((x) => x.name === s.from.toLowerCase());
  return parent ? lastUser(parent) : undefined;
};

describe('Dockerfile (static checks; no Docker engine here to build it)', () => {
  it('tells a pinned image reference from one a re-pushed tag could change', () => {
    const sha = `sha256:${'a'.repeat(64)}`;
    const arg = (name: string) => `\${${name}}`;
    const args: Args = new Map([
      ['REQUIRED', undefined],
      ['GOOD', sha],
      ['BAD', 'latest'],
    ]);
    assert.equal(pinProblem(`node:24.22.3-trixie-slim@${sha}`, args), undefined);
    assert.equal(pinProblem(`node:24.22.3-trixie-slim@${arg('REQUIRED')}`, args), undefined);
    assert.equal(pinProblem(`node:24.22.3-trixie-slim@${arg('GOOD')}`, args), undefined);
    for (const bad of [
      'node:24.22.3-trixie-slim',
      `node@${sha}`,
      `node:latest@${sha}`,
      `node:24-trixie-slim@${sha}`,
      'node:24.22.3-trixie-slim@sha256:abc',
      `node:24.22.3-trixie-slim@${arg('BAD')}`,
    ]) {
      assert.ok(pinProblem(bad, args), `${bad} is refused`);
    }
  });

  it('pins every external base image to a full version tag and a digest', () => {
    const stageNames = new Set<string>();
    let external = 0;
    for (const s of dockerfile.stages) {
      const image = expand(s.from, dockerfile.args);
      if (!stageNames.has(image.toLowerCase())) {
        external++;
        const problem = pinProblem(image, dockerfile.args);
        assert.equal(problem, undefined, `base image of stage ${s.name}: ${problem}`);
      }
      if (s.name) stageNames.add(s.name);
    }
    assert.ok(external >= 1);
  });

  it('bases on a Node LTS (even major) that satisfies package.json engines, on Debian trixie', () => {
    const image = dockerfile.args.get('NODE_IMAGE') ?? '';
    const m = /^node:(\d+)\.(\d+)\.(\d+)-trixie(-slim)?@/.exec(image);
    assert.ok(m, `NODE_IMAGE ${image} is node:<x.y.z>-trixie[-slim]@<digest>`);
    const major = Number(m[1]);
    assert.equal(major % 2, 0, 'even Node majors are the LTS lines');
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const min = /^>=(\d+)/.exec(engines);
    assert.ok(min && major >= Number(min[1]), `Node ${major} satisfies engines ${engines}`);
  });

  it('ships the Node the tests and the demo run on (infra/lib/install-node.sh)', () => {
    const image = dockerfile.args.get('NODE_IMAGE') ?? '';
    const pinned = /^NODE_VERSION=\$\{SPOT_RESCUE_NODE_VERSION:-(\d+\.\d+\.\d+)\}$/m.exec(
      read('infra/lib/install-node.sh'),
    );
    assert.ok(pinned, 'install-node.sh pins a default NODE_VERSION');
    assert.ok(image.startsWith(`node:${pinned[1]}-`), `${image} is Node ${pinned[1]}`);
  });

  it('copies only sources that exist and that .dockerignore lets into the build context', () => {
    let copies = 0;
    for (const s of dockerfile.stages) {
      for (const i of s.instructions.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
        assert.equal(i.op, 'COPY', `line ${i.line}: use COPY, not ADD`);
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        if (/--from=/.test(i.args)) continue;
        const sources = words.slice(0, -1);
        assert.ok(sources.length > 0, `line ${i.line}: COPY has a source`);
        for (const src of sources) {
          copies++;
          assert.ok(existsSync(join(root, src)), `line ${i.line}: COPY source ${src} exists`);
          const files = filesUnder(src).filter((f) => !f.endsWith('.test.ts'));
          assert.ok(files.length > 0, `line ${i.line}: ${src} has files`);
          for (const f of files) {
            assert.ok(!dockerIgnored(f, ignorePatterns), `line ${i.line}: ${f} is excluded by .dockerignore`);
          }
        }
      }
    }
    assert.ok(copies >= 5);
  });

  it('keeps the build context small: tests, dependencies, state and infra stay out', () => {
    for (const p of [
      'node_modules/zod/package.json',
      'test/support/stack.ts',
      '.stack/kube/admin.kubeconfig',
      'infra/stack',
      'charts/spot-rescue/values.yaml',
      'terraform/main.tf',
      '.git/HEAD',
      'services/common/config.test.ts',
    ]) {
      assert.ok(dockerIgnored(p, ignorePatterns), `${p} is not sent to the daemon`);
    }
    assert.ok(!dockerIgnored('services/common/config.ts', ignorePatterns));
  });

  it('copies --from only earlier stages, and the runtime gets production dependencies only', () => {
    const seen: string[] = [];
    for (const s of dockerfile.stages) {
      for (const i of s.instructions) {
        const from = /--from=(\S+)/.exec(i.args)?.[1];
        if (from) assert.ok(seen.includes(from), `line ${i.line}: stage ${from} is defined earlier`);
      }
      if (s.name) seen.push(s.name);
    }
    const base = stageByName('base');
    const modules = base.instructions.find((i) => i.op === 'COPY' && /node_modules/.test(i.args));
    assert.ok(modules, 'base copies node_modules');
    const depsStage = /--from=(\S+)/.exec(modules.args)![1]!;
    assert.match(
      runs(stageByName(depsStage)),
      /npm ci [^\n]*--omit=dev/,
      `${depsStage} installs with --omit=dev`,
    );
  });

  it('runs the compiled CLI: the entry point exists and the build writes where it loads from', () => {
    const base = stageByName('base');
    const entry = base.instructions.find((i) => i.op === 'ENTRYPOINT');
    assert.ok(entry);
    assert.deepEqual(JSON.parse(entry.args), ['node', '/app/bin/spot-rescue.js']);
    assert.match(read('bin/spot-rescue.js'), /\.\.\/dist\/services\/cli\/main\.js/);
    const build = JSON.parse(read('tsconfig.build.json')) as { extends: string; include: string[] };
    const tsconfig = JSON.parse(read(build.extends)) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    assert.equal(tsconfig.compilerOptions.outDir, 'dist');
    assert.equal(tsconfig.compilerOptions.rootDir, '.');
    assert.ok(build.include.includes('services/**/*.ts'));
    assert.ok(existsSync(join(root, 'services/cli/main.ts')));
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    assert.match(runs(stageByName('build')), /npm run build/);
    assert.match(scripts['build'] ?? '', /tsconfig\.build\.json/);
  });

  it('runs listener and worker (the default target) as a numeric non-root user', () => {
    const last = dockerfile.stages.at(-1)!;
    assert.equal(last.name, 'runtime', 'the default target is the unprivileged runtime');
    for (const s of dockerfile.stages.filter((x) => x.name !== 'agent' && x.name === 'runtime')) {
      const user = lastUser(s);
      assert.ok(user, `stage ${s.name} sets USER`);
      const uid = /^(\d+)(?::(\d+))?$/.exec(user);
      assert.ok(uid, `USER ${user} is numeric so Kubernetes runAsNonRoot can verify it`);
      assert.notEqual(Number(uid[1]), 0);
    }
  });

  it('gives the agent target CRIU 4.x from trixie, runc, iptables and zstd', () => {
    const agent = stageByName('agent');
    const r = runs(agent);
    for (const pkg of ['criu', 'runc', 'iptables', 'zstd']) {
      assert.match(r, new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`), `agent installs ${pkg}`);
    }
    assert.match(r, /criu --version \| grep -q 'Version: 4\\\./, 'the build fails unless CRIU is 4.x');
    assert.match(r, /rm -rf \/var\/lib\/apt\/lists/);
    assert.equal(lastUser(agent), '0:0');
    assert.deepEqual(JSON.parse(agent.instructions.find((i) => i.op === 'CMD')!.args), ['agent']);
  });

  it('ships what the kubelet runtime needs on EKS: the CRIU 4.2 bundle, ctr and skopeo', () => {
    const agent = stageByName('agent');
    const copies = agent.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    // The path install-criu reads by default (SPOT_RESCUE_CRIU_BUNDLE).
    assert.ok(copies.some((c) => /--from=criu \/opt\/spot-rescue\/criu \/opt\/spot-rescue\/criu/.test(c)));
    assert.ok(copies.some((c) => /--from=ctr \S+ \/usr\/local\/bin\/ctr/.test(c)));
    assert.match(runs(agent), /apt-get install[^\n]*\bskopeo\b/);
    assert.match(runs(agent), /Version: 4\\\.\[2-9\]/, 'the build fails unless the bundle is CRIU 4.2+');
    // The bundle comes from the script the local stack's test of it runs.
    assert.match(runs(stageByName('criu')), /infra\/lib\/criu-bundle\.sh \/opt\/spot-rescue\/criu/);
    const pinned = /^CONTAINERD_VERSION=(\S+)/m.exec(read('infra/lib/build-node-runtime.sh'))?.[1];
    assert.ok(pinned);
    assert.match(
      stageByName('ctr')
        .instructions.map((i) => i.args)
        .join('\n'),
      new RegExp(`CONTAINERD_VERSION=${pinned}`),
    );
  });
});
