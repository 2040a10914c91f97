import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
}

/** Message attributes a rejected message carries into the DLQ. */
export const DLQ_REASON_ATTRIBUTE = 'spot-rescue-reject-reason';
export const DLQ_SOURCE_ID_ATTRIBUTE = 'spot-rescue-source-message-id';

export const RECEIVE_BATCH = 10;
export const RECEIVE_WAIT_SECONDS = 20;

/** The SQS calls the listener makes, on its queue and its DLQ. */
export class SqsMessageQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly dlqUrl: string,
    private readonly visibilityTimeoutSeconds: number,
  ) {}

  async receive(signal: AbortSignal): Promise<ReceivedMessage[]> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: RECEIVE_BATCH,
        WaitTimeSeconds: RECEIVE_WAIT_SECONDS,
        VisibilityTimeout: this.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      { abortSignal: signal },
    );
    return (out.Messages ?? []).flatMap((m) =>
      m.MessageId && m.ReceiptHandle
        ? [
            {
              messageId: m.MessageId,
              receiptHandle: m.ReceiptHandle,
              body: m.Body ?? '',
              receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
            },
          ]
        : [],
    );
  }

  async deleteMany(handles: readonly string[]): Promise<void> {
    for (const chunk of chunks(handles, RECEIVE_BATCH)) {
      const out = await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((h, i) => ({ Id: String(i), ReceiptHandle: h })),
        }),
      );
      if (out.Failed?.length) {
        throw new Error(`SQS refused to delete ${out.Failed.length} message(s): ${out.Failed[0]?.Message}`);
      }
    }
  }

  /** Sets the visibility timeout of each message (from now). Failures are reported, not thrown. */
  async changeVisibility(entries: readonly { receiptHandle: string; seconds: number }[]): Promise<number> {
    // All batches at once: with a short timeout, a hundred messages extended one batch after another
    // could see the last ones come back to another replica while still being worked on.
    const outs = await Promise.all(
      chunks(entries, RECEIVE_BATCH).map((chunk) =>
        this.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((e, i) => ({
              Id: String(i),
              ReceiptHandle: e.receiptHandle,
              VisibilityTimeout: e.seconds,
            })),
          }),
        ),
      ),
    );
    return outs.reduce((failed, out) => failed + (out.Failed?.length ?? 0), 0);
  }

  async sendToDlq(message: ReceivedMessage, reason: string): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.dlqUrl,
        MessageBody: message.body,
        MessageAttributes: {
          [DLQ_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason },
          [DLQ_SOURCE_ID_ATTRIBUTE]: { DataType: 'String', StringValue: message.messageId },
        },
      }),
    );
  }

  /** Messages in the DLQ, visible, in flight or delayed: anything there wants a look. */
  async dlqDepth(): Promise<number> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.dlqUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = out.Attributes ?? {};
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  /** Readiness: the queue exists and answers. */
  async ping(): Promise<void> {
    await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }),
    );
  }
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
