// `splice check`: which running pods do not have what splice would inject today, grouped
// by the workload that owns them, with the command that fixes each; and which pods of
// enabled namespaces run without the proxy, with the reason. Exit 1 when a restart is
// due anywhere, so a script or a pipeline step can wait for a rollout to finish.

import { parse as parseYaml } from 'yaml';
import { parseConfig, type Config } from '../inject/config.js';
import { namespaceInjects } from '../inject/decide.js';
import { installationName, REVISION_NAME } from '../inject/installation.js';
import { checkedBy, checkPod, type PodCheck } from '../inject/drift.js';
import type { NamespaceFacts, Pod } from '../inject/types.js';
import { SPLICE_VERSION } from '../version.js';
import { loadConfig } from './context.js';
import type { CliIO } from './io.js';
import { parseFlags, UsageError } from './io.js';

export const CHECK_USAGE = `usage: splice check [flags]

Compares every running pod of the current kubeconfig's cluster with what splice would
inject into it today: injected pods whose parts differ (another proxy image, resources,
bootstrap, redirect, splice version), grouped by workload with the command that fixes
them, and pods of enabled namespaces that run without the proxy, with the reason.
Exit 1 when any pod needs a restart, 0 when none does.

  -n, --namespace NAME        only this namespace (default: all)
      --splice-namespace NAME where splice runs; its ConfigMap splice holds the config (default: splice-system)
      --revision NAME         check against that revision of splice (its ConfigMap splice-NAME,
                              and the namespaces labeled splice.dev/rev=NAME) (default: the default one)
      --config FILE           compare with this config instead of the ConfigMap's
  -o, --output text|json      json: one object, for scripts (default: text)
`;

/** A pod's state as the report groups it. */
export interface PodReport {
  namespace: string;
  name: string;
  /** The workload a restart goes through: a Deployment for a ReplicaSet's pod, else the pod's controller, else the pod. */
  owner: { kind: string; name: string };
  check: PodCheck;
}

/** The pods of one workload in one state with the same reasons: one entry of the report. */
export interface WorkloadReport {
  namespace: string;
  owner: { kind: string; name: string };
  state: PodCheck['state'];
  pods: string[];
  reasons: string[];
  /** The command that gives the pods today's parts; absent when none will. */
  fix?: string;
}

const RESTARTABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/** The command that re-creates a workload's pods with today's injection. */
export function fixFor(namespace: string, owner: { kind: string; name: string }, pod: string): string | undefined {
  if (RESTARTABLE.has(owner.kind)) return `kubectl -n ${namespace} rollout restart ${owner.kind.toLowerCase()}/${owner.name}`;
  // Its controller makes a new one, injected as splice would today.
  if (owner.kind === 'ReplicaSet' || owner.kind === 'ReplicationController') return `kubectl -n ${namespace} delete pod ${pod}`;
  // A Job's pod finishes on its own and the next one is injected as today; a bare pod
  // comes back only if whoever made it makes it again.
  if (owner.kind === 'Pod') return `kubectl -n ${namespace} delete pod ${pod} (and create it again)`;
  return undefined;
}

/** Groups pods by owner and state (same reasons too), in a stable order. */
export function groupReports(pods: readonly PodReport[]): WorkloadReport[] {
  const groups = new Map<string, WorkloadReport>();
  for (const p of pods) {
    if (p.check.state === 'current') continue;
    const reasons = p.check.reasons;
    const key = JSON.stringify([p.namespace, p.owner.kind, p.owner.name, p.check.state, reasons]);
    const group = groups.get(key);
    if (group) group.pods.push(p.name);
    else {
      const fix = p.check.state === 'left-out' || p.check.state === 'unreadable' ? undefined : fixFor(p.namespace, p.owner, p.name);
      groups.set(key, { namespace: p.namespace, owner: p.owner, state: p.check.state, pods: [p.name], reasons: [...reasons], ...(fix ? { fix } : {}) });
    }
  }
  const out = [...groups.values()];
  for (const g of out) {
    g.pods.sort();
    // One delete per pod where a rollout cannot do them all.
    if (g.fix?.includes(' delete pod ') && g.pods.length > 1) g.fix = `kubectl -n ${g.namespace} delete pod ${g.pods.join(' ')}`;
  }
  return out.sort((a, b) => `${a.state} ${a.namespace} ${a.owner.kind} ${a.owner.name}`.localeCompare(`${b.state} ${b.namespace} ${b.owner.kind} ${b.owner.name}`));
}

/** The states that a restart fixes, and that make `check` exit 1. */
export const NEEDS_RESTART: ReadonlySet<PodCheck['state']> = new Set(['drifted', 'would-not-inject', 'not-injected', 'unreadable']);

const HEADINGS: Record<Exclude<PodCheck['state'], 'current'>, string> = {
  drifted: 'injected with other parts than splice would inject today (restart to update)',
  'would-not-inject': 'injected, but splice would not inject them today (restart to take them out)',
  'not-injected': 'running without the proxy, and splice would inject them today (restart to mesh them)',
  'unreadable': 'injected, with splice annotations that cannot be read',
  'left-out': 'running without the proxy in an enabled namespace, as splice would leave them today',
};

/** The report as a person reads it: one section per state, one entry per workload, the fix under it. */
export function formatText(groups: readonly WorkloadReport[], checked: number, source: string): string {
  const lines = [`checked ${checked} pods against ${source}`];
  for (const state of Object.keys(HEADINGS) as Array<keyof typeof HEADINGS>) {
    const of = groups.filter((g) => g.state === state);
    if (of.length === 0) continue;
    lines.push('', `${HEADINGS[state]}:`);
    for (const g of of) {
      lines.push(`  ${g.owner.kind} ${g.namespace}/${g.owner.name}: ${g.pods.length} pod${g.pods.length === 1 ? '' : 's'} (${g.pods.join(', ')})`);
      for (const r of g.reasons) lines.push(`    - ${r}`);
      if (g.fix) lines.push(`    fix: ${g.fix}`);
    }
  }
  const due = groups.filter((g) => NEEDS_RESTART.has(g.state)).reduce((n, g) => n + g.pods.length, 0);
  lines.push('', due === 0 ? 'every injected pod has what splice would inject today' : `${due} pod${due === 1 ? '' : 's'} need a restart`);
  return `${lines.join('\n')}\n`;
}

async function configFrom(flag: string | undefined, text: string | undefined, configMap: string): Promise<{ config: Config; source: string }> {
  if (flag !== undefined) return { config: await loadConfig(flag), source: `--config ${flag}` };
  const source = `ConfigMap ${configMap}`;
  // Comparing with the defaults instead would call every pod drifted, or none.
  if (text === undefined) throw new UsageError(`${source} (key config.yaml) is not there: is splice installed in that namespace (--splice-namespace), as that revision (--revision)? Or give --config FILE`);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new UsageError(`${source}: config.yaml is not valid YAML: ${(e as Error).message}`);
  }
  return { config: parseConfig(doc), source };
}

/** `splice check [flags]`: exit 0 when no pod needs a restart, 1 when one does or the cluster cannot be read, 2 for bad flags. */
export async function checkCommand(argv: string[], io: CliIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  const values = parseFlags(argv, {
    namespace: { type: 'string', short: 'n' },
    'splice-namespace': { type: 'string' },
    revision: { type: 'string' },
    config: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output: ${JSON.stringify(output)} is neither text nor json`);
  const spliceNamespace = values['splice-namespace'] ?? 'splice-system';
  const revision = values.revision ?? '';
  if (revision !== '' && !REVISION_NAME.test(revision)) throw new UsageError(`--revision: ${JSON.stringify(revision)} is not a revision name (a DNS label of at most 40 characters)`);

  const { loadKubeConfig } = await import('../kube/client.js');
  const { listClusterPods, controllerOf } = await import('../kube/cluster-pods.js');
  let kc;
  try {
    kc = loadKubeConfig();
  } catch (e) {
    if (!(e instanceof Error && e.name === 'KubeAccessError')) throw e;
    io.stderr(`splice check: ${e.message}\n`);
    return 1;
  }
  const configMap = installationName(revision);
  const cluster = await listClusterPods(kc, spliceNamespace, configMap, values.namespace);
  const loaded = await configFrom(values.config, cluster.configText, `${spliceNamespace}/${configMap}`);
  // As `splice serve` runs it: in its own namespace, whatever the file says.
  const config: Config = Object.freeze({ ...loaded.config, injectorNamespace: spliceNamespace, revision });

  const reports: PodReport[] = [];
  for (const pod of cluster.pods) {
    const namespace = pod.metadata?.namespace ?? 'default';
    const facts: NamespaceFacts = cluster.namespaces.get(namespace) ?? { name: namespace, labels: {}, annotations: {} };
    // Another revision's pods are that revision's check to report.
    if (!checkedBy(pod as Pod, facts, revision)) continue;
    const check = checkPod({ pod, namespace: facts, cluster: { version: cluster.version }, config });
    // Pods outside the mesh matter only where splice is meant to inject.
    if (check.state === 'left-out' && !namespaceInjects(facts, config)) continue;
    const name = pod.metadata?.name ?? '(unnamed)';
    let owner = controllerOf(pod.metadata?.ownerReferences) ?? { kind: 'Pod', name };
    if (owner.kind === 'ReplicaSet') owner = cluster.replicaSetOwners.get(`${namespace}/${owner.name}`) ?? owner;
    reports.push({ namespace, name, owner, check });
  }
  const groups = groupReports(reports);
  const due = groups.some((g) => NEEDS_RESTART.has(g.state));
  if (output === 'json') {
    const current = reports.filter((r) => r.check.state === 'current').length;
    io.stdout(`${JSON.stringify({ spliceVersion: SPLICE_VERSION, config: loaded.source, checked: cluster.pods.length, current, workloads: groups }, null, 2)}\n`);
  } else {
    io.stdout(formatText(groups, cluster.pods.length, `${loaded.source}, splice ${SPLICE_VERSION}, Kubernetes ${cluster.version.major}.${cluster.version.minor}`));
  }
  return due ? 1 : 0;
}
