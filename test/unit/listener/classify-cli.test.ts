import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { classifyMessage } from '../../../services/listener/classify.js';
import { classificationLine } from '../../../services/listener/classify-command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = 'test/fixtures/events';
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, ['bin/spot-rescue.js', 'classify', ...args], {
    cwd: root,
    input,
    encoding: 'utf8',
    env: { ...process.env },
  });

describe('spot-rescue classify', () => {
  it('prints one line per input, in order, matching what the listener decides', () => {
    const files = readdirSync(`${root}${fixtures}`)
      .sort()
      .map((f) => `${fixtures}/${f}`);
    const r = run(files);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, files.length);
    const config = {
      rebalancePolicy: 'cordon',
      asgHeartbeatTimeoutSeconds: 300,
      cloudwatchBudgetSeconds: 120,
      maxMessageBytes: 262144,
    } as const;
    files.forEach((f, i) => {
      const got = JSON.parse(lines[i]!);
      const want = JSON.parse(
        classificationLine(classifyMessage(readFileSync(`${root}${f}`, 'utf8'), { now: new Date(), config })),
      );
      // "now"-relative deadlines differ by the time between the two runs.
      if (f.includes('cloudwatch') || f.includes('state-change-terminated')) {
        assert.ok(Math.abs(Date.parse(got.deadline) - Date.parse(want.deadline)) < 60_000);
        got.deadline = want.deadline;
      }
      assert.deepEqual(got, want, f);
      assert.match(
        lines[i]!,
        /^\{"outcome":"(act","kind":"[a-z-]+","eventId":".+","instanceIds":\[.*\],"deadline":(".+Z"|null)|(ignore|reject)","reason":".+")\}$/,
      );
    });
  });

  it('reads stdin for -, and exits 0 for a rejected message', () => {
    const r = run(['-'], 'garbage');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '{"outcome":"reject","reason":"message body is not a JSON object"}\n');
  });

  it('honours the classification settings from the environment', () => {
    const r = spawnSync(
      process.execPath,
      ['bin/spot-rescue.js', 'classify', `${fixtures}/rebalance-recommendation.json`],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, SPOT_RESCUE_REBALANCE_POLICY: 'ignore' },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).outcome, 'ignore');
  });

  it('fails with a clear message for unreadable files and usage errors, printing nothing', () => {
    const r = run([`${fixtures}/spot-interruption-warning.json`, 'no/such/file.json']);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cannot read no\/such\/file.json: ENOENT/);
    const none = run([]);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /missing required argument/);
  });
});
