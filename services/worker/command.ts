import type { Command } from 'commander';

/** Registers the worker's subcommands on the `spot-rescue` program. */
export function registerWorkerCommands(_program: Command): void {}
