import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * Simulation only. On AWS the Terraform module creates spot-rescue's queue,
 * dead-letter queue, archive bucket and archive-access role; on the local
 * stack they are made in moto here, the same way (the role is moto's
 * default-account ARN, which moto's STS accepts as it is).
 */

/** The archive-access role of the simulation, in moto's default account. */
export const SIM_ARCHIVE_ROLE_ARN = 'arn:aws:iam::123456789012:role/spot-rescue-archive-access';

export interface RescueQueues {
  queueUrl: string;
  dlqUrl: string;
}

/** The SQS queue EventBridge targets, with its DLQ and redrive policy (what the Terraform module creates). */
export async function ensureQueues(sqs: SQSClient, name: string): Promise<RescueQueues> {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes?.QueueArn;
  const q = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        MessageRetentionPeriod: '300',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
      },
    }),
  );
  return { queueUrl: q.QueueUrl as string, dlqUrl: dlq.QueueUrl as string };
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err) => {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  });
}
