import type { Command } from 'commander';
import { readConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { installCriu } from './runtimes/kubelet/criu-installer.js';
import { startAgent } from './service.js';
import { agentSettings, criuInstallSettings } from './settings.js';

/** Registers the agent's subcommands on the `spot-rescue` program. */
export function registerAgentCommands(program: Command): void {
  program
    .command('agent')
    .description('Run the node agent: checkpoint containers to S3 and restore them (one per node)')
    .action(async () => {
      // Logs `agent listening` with its URL, so a parent process finds a port chosen by the OS.
      const agent = await startAgent(readConfig(agentSettings));
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await agent.close();
      // Abandoned uploads may still hold sockets to a stalled S3 endpoint; they must not keep a stopped agent alive.
      process.exit(0);
    });

  program
    .command('install-criu')
    .description(
      "Install the agent image's CRIU where the node's container runtime finds it, and its options (init container)",
    )
    .action(async () => {
      const c = readConfig(criuInstallSettings);
      const log = createLogger('install-criu', c.logLevel);
      const result = await installCriu(c);
      log.info(
        result,
        result.changed
          ? 'CRIU installed; a containerd 2.2.7+/2.3.4+ that already tried a checkpoint must restart to see it'
          : 'CRIU already in place',
      );
    });
}
