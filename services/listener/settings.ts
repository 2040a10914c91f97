import { z } from 'zod';
import { commonSettings, setting, str } from '../common/config.js';
import { jobSigningSettings } from '../common/job-signing-key.js';

/** Settings that change how an event is classified; the `classify` CLI reads these too. */
export const classifySettings = {
  rebalancePolicy: setting(
    'SPOT_RESCUE_REBALANCE_POLICY',
    z.enum(['ignore', 'cordon', 'migrate']).default('cordon'),
    'what a rebalance recommendation does: ignore, cordon the node, or migrate its pods',
  ),
  asgHeartbeatTimeoutSeconds: setting(
    'SPOT_RESCUE_ASG_HEARTBEAT_TIMEOUT_SECONDS',
    str.int(30, 7200).default(300),
    "the ASG termination lifecycle hook's HeartbeatTimeout: the deadline of an asg-lifecycle-terminate event",
  ),
  cloudwatchBudgetSeconds: setting(
    'SPOT_RESCUE_CLOUDWATCH_BUDGET_SECONDS',
    str.int(1, 86400).default(120),
    'time allowed to rescue the pods of a node whose CloudWatch alarm fired',
  ),
  snsTopicArns: setting(
    'SPOT_RESCUE_SNS_TOPIC_ARNS',
    str
      .list()
      .pipe(
        z.array(
          z
            .string()
            .regex(
              /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/,
              'must be SNS topic ARNs',
            ),
        ),
      )
      .default([]),
    'comma-separated SNS topic ARNs whose notifications are accepted; an SNS message from any other topic goes to the DLQ',
  ),
  maxMessageBytes: setting(
    'SPOT_RESCUE_MAX_MESSAGE_BYTES',
    str.int(1024, 1024 * 1024).default(256 * 1024),
    'messages larger than this are rejected to the DLQ',
  ),
};

export const listenerSettings = {
  ...commonSettings,
  ...jobSigningSettings,
  ...classifySettings,
  queueUrl: setting('SPOT_RESCUE_QUEUE_URL', str.url(), 'SQS queue the interruption events arrive on'),
  dlqUrl: setting(
    'SPOT_RESCUE_DLQ_URL',
    str.url(),
    'SQS dead-letter queue malformed messages are moved to (with the reason as a message attribute)',
  ),
  pollers: setting(
    'SPOT_RESCUE_LISTENER_POLLERS',
    str.int(1, 32).default(4),
    'long-polls kept in flight at once (10 messages, 20 s wait each)',
  ),
  maxInFlightMessages: setting(
    'SPOT_RESCUE_LISTENER_MAX_IN_FLIGHT',
    str.int(10, 10_000).default(100),
    'received messages being worked on at once; polling pauses above this',
  ),
  concurrency: setting(
    'SPOT_RESCUE_LISTENER_CONCURRENCY',
    str.int(1, 1000).default(32),
    'nodes handled (taint, plan, enqueue) at once',
  ),
  visibilityTimeoutSeconds: setting(
    'SPOT_RESCUE_LISTENER_VISIBILITY_TIMEOUT_SECONDS',
    str.int(2, 43_200).default(8),
    'visibility timeout of received messages, extended every third of it while work is in flight: a killed listener’s message is handled again within about this long; also bounds a dedupe claim',
  ),
  retryDelaySeconds: setting(
    'SPOT_RESCUE_LISTENER_RETRY_DELAY_SECONDS',
    str.int(0, 900).default(5),
    'a message that failed, or that another replica is handling, comes back after this (doubling per receive; an event with a deadline ahead, within a quarter of the time it has left)',
  ),
  dedupeTtlSeconds: setting(
    'SPOT_RESCUE_LISTENER_DEDUPE_TTL_SECONDS',
    str.int(60, 30 * 86400).default(86400),
    'how long a handled (event, instance) pair is remembered so redeliveries are dropped',
  ),
  redisTimeoutMs: setting(
    'SPOT_RESCUE_LISTENER_REDIS_TIMEOUT_MS',
    str.int(100, 60_000).default(5000),
    'a Redis step (claim, enqueue) slower than this fails the message, which stays in SQS',
  ),
  unoptedPods: setting(
    'SPOT_RESCUE_UNOPTED_PODS',
    z.enum(['evict', 'ignore']).default('evict'),
    'pods not opted in to migration: evict them, or leave them to another drainer',
  ),
  rebalanceMigrateBudgetSeconds: setting(
    'SPOT_RESCUE_REBALANCE_MIGRATE_BUDGET_SECONDS',
    str.int(30, 86400).default(600),
    'with SPOT_RESCUE_REBALANCE_POLICY=migrate: the deadline given to pod jobs of a rebalance recommendation',
  ),
  replanIntervalSeconds: setting(
    'SPOT_RESCUE_LISTENER_REPLAN_INTERVAL_SECONDS',
    str.int(0, 3600).default(30),
    'how often tainted nodes are checked for pods whose jobs Redis lost; a pod jobless on two checks in a row is planned again (0: off)',
  ),
  replanBudgetSeconds: setting(
    'SPOT_RESCUE_LISTENER_REPLAN_BUDGET_SECONDS',
    str.int(30, 86400).default(120),
    'the deadline given to re-planned pods, counted from the re-plan (the original went with the lost jobs)',
  ),
};

export type ClassifyConfig = {
  rebalancePolicy: 'ignore' | 'cordon' | 'migrate';
  asgHeartbeatTimeoutSeconds: number;
  cloudwatchBudgetSeconds: number;
  snsTopicArns: string[];
  maxMessageBytes: number;
};
