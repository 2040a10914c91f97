import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../../services/common/aws.js';
import { SqsMessageQueue } from '../../../services/listener/sqs-queue.js';
import { awsSettings, stackEnv, uniqueName } from '../../support/stack.js';
import { runCli } from './cli.js';

const sqs = createSqsClient(awsSettings());
let queueUrl = '';
let dlqUrl = '';
let env: NodeJS.ProcessEnv = {};
const ALARM_TOPIC = 'arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms';

before(async () => {
  const name = uniqueName('cli-dlq');
  queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
  const s = stackEnv();
  env = {
    ...process.env,
    SPOT_RESCUE_AWS_ENDPOINT: s.awsEndpoint,
    AWS_REGION: s.awsRegion,
    SPOT_RESCUE_QUEUE_URL: queueUrl,
    SPOT_RESCUE_DLQ_URL: dlqUrl,
    SPOT_RESCUE_SNS_TOPIC_ARNS: ALARM_TOPIC,
  };
});

after(async () => {
  for (const url of [queueUrl, dlqUrl])
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {});
  sqs.destroy();
});

const depth = async (url: string) => {
  const a = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes?.ApproximateNumberOfMessages) +
    Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
};

const snsFrom = (topic: string) =>
  JSON.stringify({
    Type: 'Notification',
    MessageId: 'm-1',
    TopicArn: topic,
    Message: JSON.stringify({
      version: '0',
      id: '7e1d5a2c-0000-4b1a-9d3e-2f6c1a9b8e70',
      'detail-type': 'EC2 Spot Instance Interruption Warning',
      source: 'aws.ec2',
      time: new Date().toISOString(),
      detail: { 'instance-id': 'i-0abc123def4567890', 'instance-action': 'terminate' },
    }),
  });

describe('spot-rescue dlq against the real SQS (moto)', () => {
  it('lists why each message was rejected and what the listener would do now; redrives them to the main queue', async () => {
    // Dead-lettered as the listener does it: the body and the reason attribute.
    const listener = new SqsMessageQueue(sqs, queueUrl, dlqUrl, 30);
    await listener.sendToDlq(
      { messageId: 'src-1', receiptHandle: 'x', body: snsFrom(ALARM_TOPIC), receiveCount: 1 },
      'SNS topic arn:aws:sns:us-east-1:111122223333:spot-rescue-alarms is not one of the accepted topics (SPOT_RESCUE_SNS_TOPIC_ARNS)',
    );
    await listener.sendToDlq(
      { messageId: 'src-2', receiptHandle: 'y', body: 'garbage', receiveCount: 1 },
      'message body is not a JSON object',
    );

    const list = await runCli(['dlq', 'list', '--json'], env);
    assert.equal(list.status, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as {
      messageId: string;
      rejectedBecause: string;
      sourceMessageId: string;
      now: { outcome: string; kind?: string };
      body: string;
    }[];
    const bySource = new Map(rows.map((r) => [r.sourceMessageId, r]));
    assert.equal(rows.length, 2);
    // The topic is accepted now (the setting was fixed): the listener would act on it.
    assert.match(bySource.get('src-1')!.rejectedBecause, /not one of the accepted topics/);
    assert.deepEqual(
      [bySource.get('src-1')!.now.outcome, bySource.get('src-1')!.now.kind],
      ['act', 'spot-interruption'],
    );
    assert.equal(bySource.get('src-2')!.now.outcome, 'reject');
    assert.equal(await depth(dlqUrl), 2, 'listing leaves the messages in the DLQ');

    const usage = await runCli(['dlq', 'redrive'], env);
    assert.equal(usage.status, 2);

    const one = await runCli(['dlq', 'redrive', bySource.get('src-1')!.messageId], env);
    assert.equal(one.status, 0, one.stderr + one.stdout);
    assert.match(one.stdout, /^redriven 1: /);
    const back = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
    assert.deepEqual(
      (back.Messages ?? []).map((m) => m.Body),
      [bySource.get('src-1')!.body],
    );
    assert.equal(await depth(dlqUrl), 1, 'only the redriven message left the DLQ');
  });

  it('fails fast, naming the missing setting, before touching AWS', async () => {
    const r = await runCli(['dlq', 'list'], { ...env, SPOT_RESCUE_DLQ_URL: '' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /SPOT_RESCUE_DLQ_URL/);
  });
});
