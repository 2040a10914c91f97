import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { classifyMessage } from '../../../services/listener/classify.js';
import { classificationLine } from '../../../services/listener/classify-command.js';
import type { ClassifyConfig } from '../../../services/listener/settings.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = 'test/fixtures/events';
const ALARM_TOPIC = 'arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms';
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, ['bin/spot-rescue.js', 'classify', ...args], {
    cwd: root,
    input,
    encoding: 'utf8',
    env: { ...process.env, SPOT_RESCUE_SNS_TOPIC_ARNS: ALARM_TOPIC },
  });

describe('spot-rescue classify', () => {
  it('prints one line per input, in order, matching what the listener decides', () => {
    const files = readdirSync(`${root}${fixtures}`)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => `${fixtures}/${f}`);
    const r = run(files);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, files.length);
    const config: ClassifyConfig = {
      rebalancePolicy: 'cordon',
      asgHeartbeatTimeoutSeconds: 300,
      cloudwatchBudgetSeconds: 120,
      snsTopicArns: [ALARM_TOPIC],
      maxMessageBytes: 262144,
    };
    files.forEach((f, i) => {
      const got = JSON.parse(lines[i]!);
      const want = JSON.parse(
        classificationLine(classifyMessage(readFileSync(`${root}${f}`, 'utf8'), { now: new Date(), config })),
      );
      // "now"-relative deadlines (and those of samples older than any SQS message can be,
      // which are acted on from their receipt) differ by the time between the two runs.
      if (typeof got.deadline === 'string' && typeof want.deadline === 'string') {
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
