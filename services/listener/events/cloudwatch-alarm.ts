import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  awsTime,
  eventBridgeEvent,
  instanceId,
  isEventBridge,
  plusSeconds,
  timeOrReceipt,
} from './fields.js';
import type { Classification, DecideContext } from './source.js';
import { act, eventSource, ignore } from './source.js';

const DETAIL_TYPE = 'CloudWatch Alarm State Change';

interface Alarm {
  eventId: string;
  state: string;
  time: Date | null;
  /** Every InstanceId dimension the alarm's metrics carry. */
  instanceIds: string[];
}

/** The node is sick now: it gets the configured budget from the moment we hear of it. */
function decideAlarm(a: Alarm, { now, config }: DecideContext): Classification {
  if (a.state.toUpperCase() !== 'ALARM')
    return ignore(`alarm state ${a.state} is not ALARM`, 'cloudwatch-alarm');
  const ids = [...new Set(a.instanceIds)];
  if (ids.length === 0) return ignore('alarm has no InstanceId dimension', 'cloudwatch-alarm');
  const bad = ids.filter((id) => !instanceId.safeParse(id).success);
  if (bad.length > 0)
    return { outcome: 'reject', reason: `InstanceId dimension is not an instance id: ${bad}` };
  const { time, oddFields } = timeOrReceipt(a.time, now);
  return act(
    {
      kind: 'cloudwatch-alarm',
      eventId: a.eventId,
      instanceIds: ids,
      deadline: plusSeconds(now, config.cloudwatchBudgetSeconds),
      eventTime: time.toISOString(),
      response: 'drain',
    },
    oddFields,
  );
}

const dimensionsRecord = z.record(z.string(), z.string()).optional();

/** Through EventBridge: the dimensions sit in each metric of the alarm's configuration. */
export const cloudwatchAlarmEventBridge = eventSource({
  name: DETAIL_TYPE,
  matches: (m) => isEventBridge(m, 'aws.cloudwatch', [DETAIL_TYPE]),
  schema: eventBridgeEvent(
    z.literal(DETAIL_TYPE),
    z.object({
      alarmName: z.string().min(1),
      state: z.object({ value: z.string() }),
      configuration: z
        .object({
          metrics: z
            .array(
              z.object({
                metricStat: z.object({ metric: z.object({ dimensions: dimensionsRecord }) }).optional(),
              }),
            )
            .optional(),
        })
        .optional(),
    }),
  ),
  decide: (e, ctx) =>
    decideAlarm(
      {
        eventId: e.id,
        state: e.detail.state.value,
        time: e.time,
        instanceIds: (e.detail.configuration?.metrics ?? []).flatMap((m) => {
          const id = m.metricStat?.metric.dimensions?.['InstanceId'];
          return id === undefined ? [] : [id];
        }),
      },
      ctx,
    ),
});

/**
 * The classic alarm notification CloudWatch publishes to SNS. It has no id of
 * its own, so the event id is derived from the alarm and the time of the
 * state change: every copy of one notification maps to the same id.
 */
export const cloudwatchAlarmClassic = eventSource({
  name: 'CloudWatch alarm notification',
  matches: (m) => typeof m['AlarmName'] === 'string' && 'NewStateValue' in m,
  schema: z.object({
    AlarmName: z.string().min(1),
    AlarmArn: z.string().optional(),
    NewStateValue: z.string(),
    StateChangeTime: awsTime,
    Trigger: z
      .object({
        Dimensions: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
        Metrics: z
          .array(
            z.object({
              MetricStat: z
                .object({
                  Metric: z.object({
                    Dimensions: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
                  }),
                })
                .optional(),
            }),
          )
          .optional(),
      })
      .optional(),
  }),
  decide: (m, ctx) => {
    const dims = [
      ...(m.Trigger?.Dimensions ?? []),
      ...(m.Trigger?.Metrics ?? []).flatMap((x) => x.MetricStat?.Metric.Dimensions ?? []),
    ];
    const identity = `${m.AlarmArn ?? m.AlarmName}|${m.StateChangeTime.toISOString()}`;
    return decideAlarm(
      {
        eventId: `alarm-${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`,
        state: m.NewStateValue,
        time: m.StateChangeTime,
        instanceIds: dims.filter((d) => d.name === 'InstanceId').map((d) => d.value),
      },
      ctx,
    );
  },
});
