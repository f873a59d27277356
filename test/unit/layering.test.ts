// The shape of the code, held: lower layers never import higher ones. The engine
// (src/inject) stays pure, with no Kubernetes client, HTTP or CLI under it, so the
// webhook, the CLI and the tests all call the very same function.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../support/golden.js';

// What each folder of src/ may import from its siblings.
const ALLOWED: Record<string, string[]> = {
  iptables: [],
  tls: [],
  inject: ['iptables', 'version.js'],
  identity: ['inject', 'tls'],
  webhook: ['inject', 'tls'],
  discovery: ['inject', 'iptables'],
  kube: ['discovery', 'identity', 'inject', 'tls', 'webhook'],
  cli: ['discovery', 'identity', 'inject', 'iptables', 'kube', 'tls', 'webhook', 'version.js'],
};

test('each folder of src/ imports only the layers below it', () => {
  const problems: string[] = [];
  const src = join(REPO, 'src');
  for (const folder of readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)) {
    const allowed = ALLOWED[folder];
    if (allowed === undefined) {
      problems.push(`src/${folder} has no entry in this test's layer table`);
      continue;
    }
    for (const file of readdirSync(join(src, folder)).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(src, folder, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import\()\s*'\.\.\/([^/']+)/g)) {
        const target = m[1] ?? '';
        if (!allowed.includes(target)) problems.push(`src/${folder}/${file} imports ../${target}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
