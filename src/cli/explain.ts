// `splice explain -f FILE|-`: for each pod, the decision, every reason behind it, the
// warnings a user would see, and a unified diff of the pod as YAML, before and after.

import { createPatch } from 'diff';
import { stringify } from 'yaml';
import type { Config } from '../inject/config.js';
import { identityLines, type LookupSecret } from './identity.js';
import { trafficLines } from './traffic.js';
import type { CliIO } from './io.js';
import type { PodResult } from './run-manifests.js';
import { MANIFEST_FLAGS, runManifests } from './run-manifests.js';

export const EXPLAIN_USAGE = `usage: splice explain -f FILE|- [flags]

For each pod or pod template: whether splice injects it, every reason, the warnings
kubectl would show, what would change, and what the proxy will do with its traffic.

${MANIFEST_FLAGS}
      --cluster               also look up each injected pod's identity Secret in the
                              cluster of the current kubeconfig (needs get on secrets)
`;

// The bootstrap input and the SDS annotations are long one-line JSON strings; shown whole they would bury the diff.
const LONG = 160;
const shorten = (line: string) => (line.length > LONG ? `${line.slice(0, LONG)}… (${line.length} chars)` : line);

async function section(result: PodResult, config: Config, lookup: LookupSecret | undefined): Promise<string> {
  const { site, decision, namespace } = result;
  const lines = [`${site.label} (namespace ${namespace})`, `  decision: ${decision.result}`, '  reasons:'];
  for (const r of decision.reasons) lines.push(`    - ${r.id}: ${r.message}`);
  if (decision.warnings.length > 0) {
    lines.push('  warnings:');
    for (const w of decision.warnings) lines.push(`    - ${w}`);
  }
  if (decision.result === 'deny') lines.push(`  error: ${decision.message}`);
  if (decision.result === 'inject') {
    const before = stringify(site.pod, { lineWidth: 0 });
    const after = stringify(decision.pod, { lineWidth: 0 });
    const patch = createPatch(site.label, before, after, 'original', 'injected', { context: 2 });
    lines.push('  changes:');
    // Drop the "Index:" and "====" header lines that createPatch writes first.
    for (const line of patch.split('\n').slice(2)) if (line !== '') lines.push(`    ${shorten(line)}`);
    lines.push(`  patch: ${decision.patch.length} JSON Patch operations`);
    lines.push(...trafficLines(result, config));
    lines.push(...(await identityLines(result, config, lookup)));
  }
  return `${lines.join('\n')}\n`;
}

export async function explainCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(EXPLAIN_USAGE);
    return 0;
  }
  const cluster = argv.includes('--cluster');
  const run = await runManifests(
    argv.filter((a) => a !== '--cluster'),
    io,
  );
  if (run.results.length === 0) {
    io.stderr('no pods or pod templates found in the input\n');
    return 1;
  }
  // Loaded only with --cluster: explaining a file needs no cluster.
  let lookup: LookupSecret | undefined;
  if (cluster) {
    try {
      lookup = (await import('../kube/secret-lookup.js')).clusterSecretLookup();
    } catch (e) {
      // No kubeconfig: a sentence that says what to do, not a stack trace.
      if (!(e instanceof Error && e.name === 'KubeAccessError')) throw e;
      io.stderr(`splice explain --cluster: ${e.message}\n`);
      return 1;
    }
  }
  const sections: string[] = [];
  for (const result of run.results) sections.push(await section(result, run.config, lookup));
  io.stdout(sections.join('\n'));
  return 0;
}
