import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectedReadme, fillSettingsTable, SETTINGS_DOCS } from '../../../scripts/settings-docs.js';

for (const { file, component } of SETTINGS_DOCS) {
  test(`${file} documents exactly the settings the ${component} reads`, async () => {
    const { actual, expected } = await expectedReadme(file, component);
    assert.equal(actual, expected, `${file} is stale: run npm run docs:settings`);
  });
}

test('a README without the markers is an error that says what to add', () => {
  assert.throws(() => fillSettingsTable('# x\n', 'worker', '| t |'), /no settings markers for worker/);
  const filled = fillSettingsTable(
    'a\n<!-- settings: worker (generated from the code by npm run docs:settings; do not edit) -->\nold\n<!-- /settings -->\nb\n',
    'worker',
    '| t |',
  );
  assert.match(filled, /do not edit\) -->\n\n\| t \|\n\n<!-- \/settings -->\nb\n$/);
});
