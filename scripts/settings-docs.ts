// Writes each service README's settings table from the code, so the docs
// cannot drift from what the services read:  npm run docs:settings
// The unit test test/unit/docs/settings-tables.test.ts fails when a table is stale.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { COMPONENT_SETTINGS } from '../services/cli/config-command.js';
import { describeSettings } from '../services/common/config.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Each README and the component whose settings it documents. */
export const SETTINGS_DOCS = [
  { file: 'services/listener/README.md', component: 'listener' },
  { file: 'services/worker/README.md', component: 'worker' },
  { file: 'services/agent/README.md', component: 'agent' },
] as const;

const begin = (component: string) =>
  `<!-- settings: ${component} (generated from the code by npm run docs:settings; do not edit) -->`;
const END = '<!-- /settings -->';

/** The markdown with the region between the component's markers replaced by `table`. */
export function fillSettingsTable(markdown: string, component: string, table: string): string {
  const start = markdown.indexOf(begin(component));
  const end = markdown.indexOf(END, start);
  if (start === -1 || end === -1)
    throw new Error(`no settings markers for ${component}: add\n${begin(component)}\n${END}`);
  return `${markdown.slice(0, start)}${begin(component)}\n\n${table}\n\n${markdown.slice(end)}`;
}

/** What the README should hold: the file as it is, with its table as the code says. */
export async function expectedReadme(
  file: string,
  component: string,
): Promise<{ actual: string; expected: string }> {
  const spec = await COMPONENT_SETTINGS[component]!();
  const actual = await readFile(`${ROOT}${file}`, 'utf8');
  return { actual, expected: fillSettingsTable(actual, component, describeSettings(spec)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { file, component } of SETTINGS_DOCS) {
    const { actual, expected } = await expectedReadme(file, component);
    if (actual !== expected) await writeFile(`${ROOT}${file}`, expected);
    console.log(`${file}: ${actual === expected ? 'up to date' : 'rewritten'}`);
  }
}
