// `splice inject -f FILE|-`: the injected manifests on stdout. A refused pod fails the
// whole run and prints nothing on stdout, so a pipeline into `kubectl apply` never
// applies half of a set of manifests.

import { writeManifests } from './documents.js';
import type { CliIO } from './io.js';
import { MANIFEST_FLAGS, runManifests } from './run-manifests.js';

export const INJECT_USAGE = `usage: splice inject -f FILE|- [flags]

Adds splice's proxy to every pod and pod template (Pod, Deployment, StatefulSet,
DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, v1 List) that the
webhook would inject; other objects pass through unchanged.

${MANIFEST_FLAGS}
`;

export async function injectCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(INJECT_USAGE);
    return 0;
  }
  const run = await runManifests(argv, io);
  const denied = run.results.filter((r) => r.decision.result === 'deny');
  for (const r of run.results) {
    for (const w of r.decision.warnings) io.stderr(`warning: ${r.site.label}: ${w}\n`);
    if (r.decision.result === 'skip') {
      io.stderr(`${r.site.label}: not injected: ${r.decision.reasons.map((x) => x.message).join('; ')}\n`);
    }
  }
  if (denied.length > 0) {
    for (const r of denied) if (r.decision.result === 'deny') io.stderr(`error: ${r.site.label}: ${r.decision.message}\n`);
    return 1;
  }
  io.stdout(writeManifests(run.manifests));
  return 0;
}
