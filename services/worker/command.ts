import type { Command } from 'commander';

/** Registers the worker's subcommands on the `spot-rescue` program. */
export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'run the rescue jobs: migrate pods (checkpoint/restore), evict, provision capacity, finalize nodes',
    )
    .action(async () => {
      const { runWorkerService } = await import('./service.js');
      await runWorkerService();
    });
}
