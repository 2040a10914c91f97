import { Command, CommanderError } from 'commander';
import { registerAgentCommands } from '../agent/command.js';
import { buildInfo } from '../common/build-info.js';
import { ConfigError } from '../common/config.js';
import { UsageError } from '../listener/classify-command.js';
import { registerListenerCommands } from '../listener/command.js';
import { registerWorkerCommands } from '../worker/command.js';
import { registerOpsCommands } from './ops-commands.js';

/** Exit codes: 0 done, 1 failed (a missing or invalid setting included), 2 used wrongly. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * `spot-rescue <command>`: one binary, one container image; the Helm chart
 * picks the service by its command (listener, worker, agent), and operators
 * get their tools (classify, status, config, dlq) from the same code paths
 * the services use.
 */
export function buildProgram(): Command {
  const program = new Command('spot-rescue')
    .description('Live-migrates pods off EC2 Spot instances before AWS reclaims them')
    .version(buildInfo().version, '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  registerListenerCommands(program);
  registerWorkerCommands(program);
  registerAgentCommands(program);
  registerOpsCommands(program);
  return program;
}

/** What the process exits with after `err`; the message is printed here unless commander already did. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end in a CommanderError with exit code 0; every other one is a usage error
    // commander has already explained.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof UsageError) {
    console.error(`spot-rescue: ${err.message}`);
    return EXIT.usage;
  }
  if (err instanceof ConfigError) {
    console.error(`spot-rescue: ${err.message}`);
    return EXIT.failed;
  }
  console.error(`spot-rescue: ${(err as Error).message}`);
  return EXIT.failed;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.exit(exitCodeFor(err));
}
