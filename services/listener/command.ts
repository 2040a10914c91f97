import type { Command } from 'commander';
import { runClassify } from './classify-command.js';

/** Registers the listener's subcommands on the `spot-rescue` program. */
export function registerListenerCommands(program: Command): void {
  program
    .command('listener')
    .description('consume interruption events from SQS, cordon doomed nodes and queue rescue jobs')
    .action(async () => {
      const { runListenerService } = await import('./service.js');
      await runListenerService();
      // Everything is settled and closed; don't wait for sockets the SDKs keep open after an aborted long-poll.
      process.exit(0);
    });

  program
    .command('classify')
    .description(
      'classify SQS message bodies (files, or - for stdin) exactly as the listener does; one JSON line per input',
    )
    .argument('<files...>', 'message bodies, e.g. taken from the DLQ')
    .action(async (files: string[]) => {
      const lines = await runClassify(files);
      process.stdout.write(lines.map((l) => `${l}\n`).join(''));
    });
}
