import { GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { CoreV1Api } from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { buildEvent, SIMULATED_KINDS, type SimulatedKind } from '../infra/sim/events.js';
import { createSqsClient } from '../services/common/aws.js';
import { commonSettings, readConfig } from '../services/common/config.js';
import { INSTANCE_ID } from '../services/common/events.js';
import { loadKubeConfig } from '../services/common/kube.js';

/**
 * Puts a real-shaped interruption event on the listener's queue, exactly as
 * EventBridge (or an Auto Scaling group, or SNS) would.
 *
 *   scripts/simulate-interruption --kind spot-interruption --node demo-0
 *   scripts/simulate-interruption --kind cloudwatch-alarm-sns --instance i-0123456789abcdef0 --print
 */
const program = new Command('simulate-interruption')
  .description('send a real-shaped interruption event for an instance to the SQS queue')
  .addOption(new Option('--kind <kind>', 'event kind').choices(SIMULATED_KINDS).default('spot-interruption'))
  .option('--instance <id>', 'EC2 instance id', (v) => {
    if (!INSTANCE_ID.test(v)) throw new InvalidArgumentError('must match ^i-[0-9a-f]{8,17}$');
    return v;
  })
  .option('--node <name>', 'a Node of the cluster; its instance comes from spec.providerID')
  .option(
    '--queue <name-or-url>',
    'SQS queue name or URL (default: SPOT_RESCUE_QUEUE_URL, else spot-rescue-demo)',
  )
  .option('--action <action>', 'spot-interruption: terminate | stop | hibernate', 'terminate')
  .option(
    '--state <state>',
    'instance-state-change: stopping | stopped | shutting-down | terminated',
    'stopping',
  )
  .option('--seconds-ago <n>', 'date the event this many seconds in the past (AWS delivers late)', '0')
  .option('--print', 'print the message instead of sending it')
  .showHelpAfterError();

async function main() {
  const o = program.parse(process.argv).opts<{
    kind: SimulatedKind;
    instance?: string;
    node?: string;
    queue?: string;
    action: string;
    state: string;
    secondsAgo: string;
    print?: boolean;
  }>();
  const cfg = readConfig(commonSettings);
  let instanceId = o.instance;
  if (!instanceId && o.node) {
    const node = await loadKubeConfig(cfg.kubeconfig).makeApiClient(CoreV1Api).readNode({ name: o.node });
    instanceId = node.spec?.providerID?.split('/').pop();
    if (!instanceId || !INSTANCE_ID.test(instanceId)) {
      throw new Error(`node ${o.node} has no EC2 providerID (got ${node.spec?.providerID ?? 'none'})`);
    }
  }
  if (!instanceId) throw new Error('give --instance or --node');
  const time = new Date(Date.now() - Number(o.secondsAgo) * 1000);
  const event = buildEvent(o.kind, {
    instanceId,
    time,
    action: o.action,
    state: o.state,
    region: cfg.awsRegion,
  });
  const body = JSON.stringify(event);
  if (o.print) {
    console.log(JSON.stringify(event, null, 2));
    return;
  }
  const sqs = createSqsClient(cfg);
  const queue = o.queue ?? process.env['SPOT_RESCUE_QUEUE_URL'] ?? 'spot-rescue-demo';
  const QueueUrl = queue.includes('://')
    ? queue
    : (await sqs.send(new GetQueueUrlCommand({ QueueName: queue }))).QueueUrl;
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
  console.log(JSON.stringify({ sent: o.kind, instanceId, queueUrl: QueueUrl, messageId: sent.MessageId }));
}

main().catch((err: Error) => {
  console.error(`simulate-interruption: ${err.message}`);
  process.exit(1);
});
