import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildInfo } from '../../../services/common/build-info.js';
import { createMetricsRegistry, stageDurations } from '../../../services/common/metrics.js';
import { createListenerMetrics } from '../../../services/listener/metrics.js';

describe('metrics that fit Prometheus', () => {
  it('no default label named service; process metrics keep their standard names', async () => {
    const registry = createMetricsRegistry('listener');
    createListenerMetrics(registry).events.inc({ kind: 'spot-interruption', outcome: 'act' });
    const text = await registry.metrics();
    assert.doesNotMatch(text, /service="/);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);
    assert.doesNotMatch(text, /^spot_rescue_process_|^spot_rescue_nodejs_/m);
    assert.match(text, /^spot_rescue_listener_events_total\{kind="spot-interruption",outcome="act"\} 1$/m);
  });

  it('build info names the component, the version of package.json and the Node.js version', async () => {
    const text = await createMetricsRegistry('worker', false).metrics();
    const { version } = buildInfo();
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.ok(
      text.includes(
        `spot_rescue_build_info{component="worker",version="${version}",node_version="${process.version}"} 1`,
      ),
      text,
    );
  });

  it('one stage duration metric, the component filled in', async () => {
    const registry = createMetricsRegistry('agent', false);
    const stages = stageDurations(registry, 'agent', [1, 10]);
    stages.observe({ stage: 'upload' }, 2);
    stages.startTimer({ stage: 'restore' })();
    const text = await registry.metrics();
    assert.match(text, /^spot_rescue_stage_duration_seconds_count\{component="agent",stage="upload"\} 1$/m);
    assert.match(text, /^spot_rescue_stage_duration_seconds_count\{component="agent",stage="restore"\} 1$/m);
  });
});
