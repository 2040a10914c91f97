import type { Command } from 'commander';

/** Registers the agent's subcommands on the `spot-rescue` program. */
export function registerAgentCommands(_program: Command): void {}
