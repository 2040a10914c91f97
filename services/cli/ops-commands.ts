import { type Command, InvalidArgumentError } from 'commander';
import { readConfig } from '../common/config.js';
import { classifyMessage } from '../listener/classify.js';
import { classificationLine, UsageError } from '../listener/classify-command.js';
import { COMPONENT_SETTINGS, effectiveSettings, formatSettings } from './config-command.js';
import { dlqSettings, readDeadLetters, redrive } from './dlq.js';
import { formatStatus } from './status-view.js';

const positiveInt = (max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
  return n;
};

const print = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

/** The operator's tools: what is happening now, how it is configured, what was rejected. */
export function registerOpsCommands(program: Command): void {
  program
    .command('status')
    .description(
      'rescues in flight per node and pod (stage, time left, target) and the last finished ones, from Redis',
    )
    .option('--last <n>', 'how many finished rescues to show', positiveInt(1000), 10)
    .option('--json', 'print the report as JSON')
    .action(async (o: { last: number; json?: boolean }) => {
      const { readStatus } = await import('./status.js');
      const report = await readStatus({ recent: o.last });
      print(o.json ? JSON.stringify(report, null, 2) : formatStatus(report));
    });

  program
    .command('config')
    .description(
      'the effective settings of a component (from the environment, as the service reads them) and where each comes from',
    )
    .argument('<component>', `one of ${Object.keys(COMPONENT_SETTINGS).join(', ')}`)
    .option('--json', 'print them as JSON')
    .action(async (component: string, o: { json?: boolean }) => {
      const load = COMPONENT_SETTINGS[component];
      if (!load)
        throw new UsageError(
          `unknown component ${component}: one of ${Object.keys(COMPONENT_SETTINGS).join(', ')}`,
        );
      const rows = effectiveSettings(await load(), process.env);
      print(o.json ? JSON.stringify(rows, null, 2) : formatSettings(rows));
    });

  const dlq = program.command('dlq').description("inspect and redrive the listener's dead-letter queue");
  dlq
    .command('list')
    .description('each message in the DLQ: why it was rejected, and what the listener would do with it now')
    .option('--max <n>', 'at most this many messages', positiveInt(1000), 100)
    .option('--json', 'print them as JSON, bodies included')
    .action(async (o: { max: number; json?: boolean }) => {
      const config = readConfig(dlqSettings);
      const { createSqsClient } = await import('../common/aws.js');
      const sqs = createSqsClient(config);
      try {
        // Not held: listing leaves every message where it was, ready for a redrive right after.
        const letters = await readDeadLetters(sqs, config.dlqUrl, o.max, 0);
        const now = new Date();
        const rows = letters.map((d) => ({
          messageId: d.messageId,
          sentAt: d.sentAt,
          rejectedBecause: d.reason,
          sourceMessageId: d.sourceMessageId,
          now: JSON.parse(classificationLine(classifyMessage(d.body, { now, config }))) as unknown,
          ...(o.json ? { body: d.body } : {}),
        }));
        if (o.json) print(JSON.stringify(rows, null, 2));
        else if (rows.length === 0) print('The DLQ is empty.');
        else {
          for (const r of rows) {
            const verdict = r.now as { outcome: string; kind?: string; reason?: string };
            print(
              `${r.messageId}  ${r.sentAt ?? '?'}\n  rejected: ${r.rejectedBecause ?? '(no reason recorded)'}\n  now: ${verdict.outcome}${verdict.kind ? ` ${verdict.kind}` : ''}${verdict.reason ? ` (${verdict.reason})` : ''}`,
            );
          }
        }
      } finally {
        sqs.destroy();
      }
    });
  dlq
    .command('redrive')
    .description(
      'put DLQ messages back on the main queue (after fixing what rejected them), then delete them from the DLQ',
    )
    .argument('[messageIds...]', 'the messages to redrive (ids as `dlq list` prints them)')
    .option('--all', 'every message in the DLQ')
    .action(async (ids: string[], o: { all?: boolean }) => {
      if (ids.length > 0 === Boolean(o.all)) throw new UsageError('give message ids or --all (not both)');
      const config = readConfig(dlqSettings);
      const { createSqsClient } = await import('../common/aws.js');
      const sqs = createSqsClient(config);
      try {
        // Held long enough to send each one again before deleting it.
        const letters = await readDeadLetters(sqs, config.dlqUrl, 10_000, 120);
        const chosen = o.all ? letters : letters.filter((d) => ids.includes(d.messageId));
        const missing = o.all ? [] : ids.filter((id) => !letters.some((d) => d.messageId === id));
        const r = await redrive(sqs, config, chosen);
        print(`redriven ${r.redriven.length}${r.redriven.length > 0 ? `: ${r.redriven.join(', ')}` : ''}`);
        for (const f of r.failed) print(`failed ${f.messageId}: ${f.error}`);
        for (const m of missing) print(`not in the DLQ: ${m}`);
        if (r.failed.length > 0 || missing.length > 0) process.exitCode = 1;
      } finally {
        sqs.destroy();
      }
    });
}
