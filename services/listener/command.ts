import type { Command } from 'commander';

/** Registers the listener's subcommands on the `spot-rescue` program. */
export function registerListenerCommands(_program: Command): void {}
