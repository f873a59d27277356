// The part `splice inject` and `splice explain` share: parse the flags, read the
// manifests, and run the engine on every pod they contain.

import type { Config } from '../inject/config.js';
import { injectPod } from '../inject/engine.js';
import type { Decision } from '../inject/outcome.js';
import type { ClusterFacts, NamespaceFacts } from '../inject/types.js';
import { loadConfig, namespaceFacts, parseKubeVersion, parseNamespaceLabels } from './context.js';
import type { Manifests } from './documents.js';
import { readManifests } from './documents.js';
import type { CliIO } from './io.js';
import { parseFlags } from './io.js';
import type { PodSite } from './workloads.js';
import { listItems, podSite, withoutNullFields } from './workloads.js';

export const MANIFEST_FLAGS = `  -f, --filename FILE         manifests to read (YAML or JSON, multi-document); - for standard input
      --namespace NAME        namespace of objects that do not name one (default: default)
      --namespace-labels k=v  the namespace's labels (default: splice.dev/inject=enabled)
      --config FILE           splice config (default: built-in defaults)
      --kube-version X.Y      the API server's version (default: a current one, native sidecars on)`;

export interface PodResult {
  site: PodSite;
  namespace: string;
  decision: Decision;
}

export interface ManifestRun {
  manifests: Manifests;
  results: PodResult[];
  config: Config;
}

export async function runManifests(argv: string[], io: CliIO): Promise<ManifestRun> {
  const values = parseFlags(argv, {
    filename: { type: 'string', short: 'f' },
    namespace: { type: 'string' },
    'namespace-labels': { type: 'string' },
    config: { type: 'string' },
    'kube-version': { type: 'string' },
  });
  const config = await loadConfig(values.config);
  const labels = parseNamespaceLabels(values['namespace-labels']);
  const cluster: ClusterFacts = parseKubeVersion(values['kube-version']);
  const defaultNamespace = values.namespace ?? 'default';
  const manifests = await readManifests(values.filename, io);

  const namespaceFor = (name: string) => namespaceFacts(name, labels);
  const { docs, results } = injectManifests(manifests.docs, { namespaceFor, cluster, config, defaultNamespace });
  return { manifests: { ...manifests, docs }, results, config };
}

export interface ManifestFacts {
  namespaceFor: (name: string) => NamespaceFacts;
  cluster: ClusterFacts;
  config: Config;
  defaultNamespace: string;
}

/** Runs the engine on every pod and pod template of the documents; other objects pass through. */
export function injectManifests(input: unknown[], facts: ManifestFacts): { docs: unknown[]; results: PodResult[] } {
  const results: PodResult[] = [];
  const docs = mapPodSites(input, (site, normalized, at) => {
    const namespace = site.namespace ?? facts.defaultNamespace;
    const decision = injectPod({ pod: site.pod, at, namespace: facts.namespaceFor(namespace), cluster: facts.cluster, config: facts.config });
    results.push({ site, namespace, decision });
    return decision.result === 'inject' ? site.replace(decision.pod) : normalized;
  });
  return { docs, results };
}

/**
 * Calls `each` on every pod and pod template of the documents (v1 List items included) and
 * puts what it returns in the document's place; other objects pass through as they came.
 * `each` gets the site, the document without its null fields, and where the pod sits in
 * the file (`items[2].spec.template.`).
 */
export function mapPodSites(input: unknown[], each: (site: PodSite, normalized: unknown, at: string) => unknown): unknown[] {
  // `at` is where the document sits in its file: `items[2].` inside a v1 List.
  const visit = (doc: unknown, at: string): unknown => {
    const items = listItems(doc);
    if (items) {
      // The List's own fields lose their nulls like a pod's; its items are visited.
      const list: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(doc as object)) {
        if (key === 'items') list[key] = items.map((item, i) => visit(item, `${at}items[${i}].`));
        else if (value !== null) list[key] = withoutNullFields(value, key);
      }
      return list;
    }
    // Only documents with pods are read, so only they lose their null fields; any other
    // kind passes through as it came (a custom resource may give null a meaning).
    if (!podSite(doc)) return doc;
    const normalized = withoutNullFields(doc);
    const site = podSite(normalized) as PodSite;
    return each(site, normalized, `${at}${site.at}`);
  };
  return input.map((doc) => visit(doc, ''));
}
