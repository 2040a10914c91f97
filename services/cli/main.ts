import { Command } from 'commander';
import { registerAgentCommands } from '../agent/command.js';
import { registerListenerCommands } from '../listener/command.js';
import { registerWorkerCommands } from '../worker/command.js';

/**
 * `spot-rescue <command>`: one binary, one container image; the Helm chart
 * picks the service by its command (listener, worker, agent), and operators
 * get their tools (classify, ...) from the same code paths the services use.
 */
export function buildProgram(): Command {
  const program = new Command('spot-rescue')
    .description('Live-migrates pods off EC2 Spot instances before AWS reclaims them')
    .showHelpAfterError()
    .exitOverride();
  registerListenerCommands(program);
  registerWorkerCommands(program);
  registerAgentCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  const code = (err as { exitCode?: number }).exitCode;
  // commander reports its own usage errors (exit code 1, message already printed); help exits 0.
  if (typeof code === 'number') process.exit(code);
  console.error(`spot-rescue: ${(err as Error).message}`);
  process.exit(1);
}
