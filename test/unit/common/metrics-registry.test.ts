import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentMetrics } from '../../../services/agent/metrics.js';
import { buildInfo } from '../../../services/common/build-info.js';
import { createMetricsRegistry, stageDurations } from '../../../services/common/metrics.js';
import { createListenerMetrics } from '../../../services/listener/metrics.js';
import { WorkerMetrics } from '../../../services/worker/metrics.js';

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

  it('outcome counters are exported at 0 from start-up, so increase() sees the first rescue', async () => {
    const worker = createMetricsRegistry('worker', false);
    new WorkerMetrics(worker).outcomes.inc({ outcome: 'restored', job_name: 'migrate-pod' });
    const agent = createMetricsRegistry('agent', false);
    new AgentMetrics(agent);
    const listener = createMetricsRegistry('listener', false);
    createListenerMetrics(listener);
    const text = [await worker.metrics(), await agent.metrics(), await listener.metrics()].join('\n');
    for (const line of [
      'spot_rescue_worker_pod_outcomes_total{outcome="restored",job_name="migrate-pod"} 1',
      'spot_rescue_worker_pod_outcomes_total{outcome="evicted",job_name="evict-pod"} 0',
      'spot_rescue_worker_node_outcomes_total{outcome="incomplete"} 0',
      'spot_rescue_agent_operations_total{operation="checkpoint",outcome="ok"} 0',
      'spot_rescue_listener_events_total{kind="spot-interruption",outcome="act"} 0',
      'spot_rescue_listener_events_total{kind="none",outcome="reject"} 0',
      'spot_rescue_listener_lenient_fields_total{kind="spot-interruption",field="time"} 0',
    ])
      assert.ok(text.split('\n').includes(line), line);
  });
});
