import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { commonSettings, setting, str } from '../common/config.js';
import { classifySettings } from '../listener/settings.js';
import { DLQ_REASON_ATTRIBUTE, DLQ_SOURCE_ID_ATTRIBUTE } from '../listener/sqs-queue.js';

export const dlqSettings = {
  ...classifySettings,
  awsRegion: commonSettings.awsRegion,
  awsEndpoint: commonSettings.awsEndpoint,
  queueUrl: setting('SPOT_RESCUE_QUEUE_URL', str.url(), 'SQS queue the interruption events arrive on'),
  dlqUrl: setting(
    'SPOT_RESCUE_DLQ_URL',
    str.url(),
    'SQS dead-letter queue the listener moves rejected messages to',
  ),
};

export interface DeadLetter {
  messageId: string;
  receiptHandle: string;
  body: string;
  reason: string | null;
  sourceMessageId: string | null;
  sentAt: string | null;
}

const BATCH = 10;

function deadLetter(m: Message): DeadLetter | null {
  if (!m.MessageId || !m.ReceiptHandle) return null;
  const sent = Number(m.Attributes?.SentTimestamp);
  return {
    messageId: m.MessageId,
    receiptHandle: m.ReceiptHandle,
    body: m.Body ?? '',
    reason: m.MessageAttributes?.[DLQ_REASON_ATTRIBUTE]?.StringValue ?? null,
    sourceMessageId: m.MessageAttributes?.[DLQ_SOURCE_ID_ATTRIBUTE]?.StringValue ?? null,
    sentAt: Number.isFinite(sent) ? new Date(sent).toISOString() : null,
  };
}

/**
 * Reads up to `max` messages of the DLQ. Each stays invisible for
 * `holdSeconds` (long enough to redrive it; 0 to only look), so one pass sees
 * each message once; a message received twice is counted once.
 */
export async function readDeadLetters(
  sqs: SQSClient,
  dlqUrl: string,
  max: number,
  holdSeconds: number,
): Promise<DeadLetter[]> {
  const seen = new Map<string, DeadLetter>();
  let emptyPolls = 0;
  while (seen.size < max && emptyPolls < 2) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(BATCH, max - seen.size),
        WaitTimeSeconds: 1,
        VisibilityTimeout: holdSeconds,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    const fresh = (out.Messages ?? []).flatMap((m) => {
      const d = deadLetter(m);
      return d && !seen.has(d.messageId) ? [d] : [];
    });
    for (const d of fresh) seen.set(d.messageId, d);
    emptyPolls = fresh.length === 0 ? emptyPolls + 1 : 0;
  }
  return [...seen.values()];
}

/**
 * Puts dead letters back on the main queue: each is sent first and deleted
 * from the DLQ only once SQS has it again, so a failure half-way duplicates
 * (the listener dedupes) rather than loses.
 */
export async function redrive(
  sqs: SQSClient,
  urls: { queueUrl: string; dlqUrl: string },
  letters: readonly DeadLetter[],
): Promise<{ redriven: string[]; failed: { messageId: string; error: string }[] }> {
  const redriven: DeadLetter[] = [];
  const failed: { messageId: string; error: string }[] = [];
  for (const d of letters) {
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: urls.queueUrl, MessageBody: d.body }));
      redriven.push(d);
    } catch (err) {
      failed.push({ messageId: d.messageId, error: (err as Error).message });
    }
  }
  for (let i = 0; i < redriven.length; i += BATCH) {
    const chunk = redriven.slice(i, i + BATCH);
    const out = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: urls.dlqUrl,
        Entries: chunk.map((d, n) => ({ Id: String(n), ReceiptHandle: d.receiptHandle })),
      }),
    );
    for (const f of out.Failed ?? []) {
      const d = chunk[Number(f.Id)];
      if (d)
        failed.push({
          messageId: d.messageId,
          error: `sent again, but not deleted from the DLQ: ${f.Message}`,
        });
    }
  }
  return { redriven: redriven.map((d) => d.messageId), failed };
}
