// `splice uninject -f FILE|-`: the manifests with everything splice added taken out
// again (src/inject/uninject.ts), for every kind `splice inject` takes. A pod that cannot
// be read fails the whole run and prints nothing on stdout, as inject does, so a pipeline
// into `kubectl apply` never applies half of a set of manifests.

import { uninjectPod } from '../inject/uninject.js';
import { readManifests, writeManifests } from './documents.js';
import type { CliIO } from './io.js';
import { parseFlags } from './io.js';
import { mapPodSites } from './run-manifests.js';

export const UNINJECT_USAGE = `usage: splice uninject -f FILE|-

Removes what splice added from every pod and pod template (Pod, Deployment, StatefulSet,
DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, v1 List): its containers,
init containers, volumes, annotations and label, and puts the app's probes back as they
were. Objects splice did not inject pass through unchanged.

  -f, --filename FILE         manifests to read (YAML or JSON, multi-document); - for standard input
`;

/** `splice uninject -f FILE|-`: exit 0 with the manifests on stdout, 1 when a pod's splice annotations cannot be read (nothing on stdout), 2 for bad flags. */
export async function uninjectCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(UNINJECT_USAGE);
    return 0;
  }
  const values = parseFlags(argv, { filename: { type: 'string', short: 'f' } });
  const manifests = await readManifests(values.filename, io);
  const errors: string[] = [];
  const docs = mapPodSites(manifests.docs, (site, normalized) => {
    const r = uninjectPod(site.pod);
    if (r.result === 'invalid') errors.push(`${site.label}: ${r.message}`);
    if (r.result !== 'uninjected') return normalized;
    return site.replace(r.pod);
  });
  if (errors.length > 0) {
    for (const e of errors) io.stderr(`error: ${e}\n`);
    return 1;
  }
  io.stdout(writeManifests({ ...manifests, docs }));
  return 0;
}
