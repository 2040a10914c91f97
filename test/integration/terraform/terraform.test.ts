/**
 * The Terraform module and its example, checked without a cloud account or
 * the registry: `terraform fmt -check`, and `terraform validate` against the
 * AWS and Helm providers built from their Go modules into a filesystem mirror
 * (infra/lib/build-terraform-providers.sh), so every resource, argument and
 * attribute is checked against the providers' real schemas.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stackEnv } from '../../support/stack.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const moduleDir = join(repoRoot, 'terraform');

function buildTool(script: string): string {
  const out = execFileSync('bash', [join(repoRoot, 'infra/lib', script), '--print-path'], {
    env: { ...process.env, SPOT_RESCUE_TOOLS_DIR: stackEnv().toolsDir },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').at(-1)!;
}

interface Diagnostic {
  severity: 'error' | 'warning';
  summary: string;
  detail?: string;
  range?: { filename: string; start: { line: number } };
}
interface ValidateResult {
  valid: boolean;
  error_count: number;
  warning_count: number;
  diagnostics: Diagnostic[];
}

let terraformBin: string;
let pluginDir: string;
let work: string;
let env: NodeJS.ProcessEnv;

function terraform(cwd: string, args: string[]) {
  const r = spawnSync(terraformBin, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A private copy of terraform/ (init writes a lock file and .terraform/ next to the configuration). */
function copyModule(): string {
  const dir = join(work, `module-${Math.random().toString(36).slice(2, 8)}`);
  cpSync(moduleDir, join(dir, 'terraform'), {
    recursive: true,
    filter: (src) => !/[/\\]\.terraform([/\\]|$)|\.terraform\.lock\.hcl$/.test(src),
  });
  return join(dir, 'terraform');
}

function initAndValidate(dir: string): ValidateResult {
  const init = terraform(dir, [
    'init',
    '-backend=false',
    '-input=false',
    '-no-color',
    `-plugin-dir=${pluginDir}`,
  ]);
  assert.equal(init.status, 0, `terraform init in ${dir}:\n${init.stdout}${init.stderr}`);
  const v = terraform(dir, ['validate', '-json', '-no-color']);
  return JSON.parse(v.stdout) as ValidateResult;
}

const describeDiagnostics = (r: ValidateResult) =>
  r.diagnostics
    .map((d) => `${d.severity}: ${d.summary} (${d.range?.filename}:${d.range?.start.line}) ${d.detail ?? ''}`)
    .join('\n');

describe('terraform module', () => {
  before(() => {
    terraformBin = buildTool('build-terraform.sh');
    pluginDir = buildTool('build-terraform-providers.sh');
    work = mkdtempSync(join(tmpdir(), 'spot-rescue-tf-'));
    const cliConfig = join(work, 'terraformrc');
    // No user CLI configuration, no plugin cache, no calls home.
    writeFileSync(cliConfig, '');
    env = {
      PATH: process.env['PATH'] ?? '',
      HOME: work,
      TF_CLI_CONFIG_FILE: cliConfig,
      CHECKPOINT_DISABLE: '1',
      TF_IN_AUTOMATION: '1',
    };
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is formatted (terraform fmt -check -recursive)', () => {
    const r = terraform(moduleDir, ['fmt', '-check', '-recursive', '-diff', '-no-color']);
    assert.equal(r.status, 0, `files need terraform fmt:\n${r.stdout}${r.stderr}`);
  });

  it('validates against the real AWS and Helm provider schemas, with no warnings', () => {
    const r = initAndValidate(copyModule());
    assert.equal(r.valid, true, describeDiagnostics(r));
    assert.equal(r.warning_count, 0, describeDiagnostics(r));
  });

  it('validates examples/complete, which uses the module as a user would', () => {
    const dir = join(copyModule(), 'examples/complete');
    const r = initAndValidate(dir);
    assert.equal(r.valid, true, describeDiagnostics(r));
    assert.equal(r.warning_count, 0, describeDiagnostics(r));
  });

  it('really checks the schemas: a misspelt argument and a wrong attribute type fail validation', () => {
    const dir = copyModule();
    const main = join(dir, 'main.tf');
    const text = readFileSync(main, 'utf8');
    writeFileSync(
      main,
      text
        .replace(
          'message_retention_seconds         = var.queue_message_retention_seconds',
          'message_retention_secs = 300',
        )
        .replace('enable_key_rotation     = true', 'enable_key_rotation     = "sometimes"'),
    );
    const r = initAndValidate(dir);
    assert.equal(r.valid, false);
    const summaries = r.diagnostics.map((d) => `${d.summary}: ${d.detail ?? ''}`).join('\n');
    assert.match(
      summaries,
      /Unsupported argument: An argument named "message_retention_secs" is not expected here/,
    );
    assert.match(summaries, /Incorrect attribute value type|a bool is required/);
  });

  it('routes every event kind the listener classifies to the queue', async () => {
    const { EVENT_KINDS } = await import('../../../services/common/events.js');
    const vars = readFileSync(join(moduleDir, 'variables.tf'), 'utf8');
    const main = readFileSync(join(moduleDir, 'main.tf'), 'utf8');
    for (const kind of EVENT_KINDS) {
      assert.match(main, new RegExp(`"${kind}" = `), `main.tf has an event pattern for ${kind}`);
      assert.ok(vars.includes(`"${kind}"`), `event_kinds defaults include ${kind}`);
    }
  });
});
