import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { Upload } from '@aws-sdk/lib-storage';
import { createEc2Client, createS3Client, createSqsClient } from '../../../services/common/aws.js';
import { awsSettings, uniqueName } from '../../support/stack.js';

test('SQS: a queue with a DLQ redrive policy, long-poll receive, delete, and redrive after maxReceiveCount', async () => {
  const sqs = createSqsClient(awsSettings());
  const name = uniqueName('sqs');
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  assert.ok(dlqArn);
  const q = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
      },
    }),
  );
  try {
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['All'] }),
    );
    assert.equal(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn, dlqArn);

    // A long poll that starts before the message is sent returns it when it arrives.
    const polled = sqs.send(new ReceiveMessageCommand({ QueueUrl: q.QueueUrl, WaitTimeSeconds: 5 }));
    await new Promise((r) => setTimeout(r, 300));
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'kept' }));
    const got = await polled;
    assert.equal(got.Messages?.[0]?.Body, 'kept');
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: q.QueueUrl, ReceiptHandle: got.Messages?.[0]?.ReceiptHandle }),
    );

    // A message received and never deleted moves to the DLQ after maxReceiveCount.
    await sqs.send(new SendMessageCommand({ QueueUrl: q.QueueUrl, MessageBody: 'poison' }));
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.QueueUrl, WaitTimeSeconds: 2 }));
    assert.equal(first.Messages?.[0]?.Body, 'poison');
    await new Promise((r) => setTimeout(r, 1500));
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.QueueUrl, WaitTimeSeconds: 1 }));
    assert.equal(again.Messages?.length ?? 0, 0, 'the poison message left the main queue');
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl, WaitTimeSeconds: 2 }));
    assert.equal(dead.Messages?.[0]?.Body, 'poison');
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: q.QueueUrl }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: dlq.QueueUrl }));
  }
});

test('S3: a 64 MiB multipart upload through lib-storage reads back byte for byte', async () => {
  const s3 = createS3Client(awsSettings());
  const Bucket = uniqueName('s3');
  await s3.send(new CreateBucketCommand({ Bucket }));
  const Key = 'archive.bin';
  try {
    const body = randomBytes(64 * 1024 * 1024);
    const parts: number[] = [];
    const upload = new Upload({
      client: s3,
      params: { Bucket, Key, Body: body },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
    });
    upload.on('httpUploadProgress', (p) => parts.push(p.part ?? 0));
    await upload.done();
    assert.ok(new Set(parts).size >= 8, `uploaded in ${new Set(parts).size} parts`);

    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    assert.equal(head.ContentLength, body.length);
    assert.match(head.ETag ?? '', /-8"?$/, 'the object was assembled from 8 parts');
    const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of got.Body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    assert.equal(size, body.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
  } finally {
    await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
  }
});

test('EC2: RunInstances then DescribeInstances finds them by tag, in their zone', async () => {
  const ec2 = createEc2Client(awsSettings());
  const tag = uniqueName('ec2');
  const run = await ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-0eks0000000000000',
      MinCount: 2,
      MaxCount: 2,
      InstanceType: 'm5.large',
      Placement: { AvailabilityZone: 'us-east-1b' },
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'test', Value: tag }] }],
    }),
  );
  const ids = (run.Instances ?? []).map((i) => i.InstanceId as string);
  try {
    assert.equal(ids.length, 2);
    for (const id of ids) assert.match(id, /^i-[0-9a-f]{8,17}$/);
    const found = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:test', Values: [tag] }] }),
    );
    const instances = (found.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    assert.deepEqual(instances.map((i) => i.InstanceId).sort(), [...ids].sort());
    for (const i of instances) assert.equal(i.Placement?.AvailabilityZone, 'us-east-1b');
  } finally {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  }
});
