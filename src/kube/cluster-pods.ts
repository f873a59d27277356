// What `splice check` reads from the cluster, as the user of the current kubeconfig: the
// running splice config (the ConfigMap splice serve reads), the API server's version, the
// namespaces, the pods, and which Deployment owns each ReplicaSet. Plain objects come
// back; the comparison itself is pure (src/inject/drift.ts).

import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { NamespaceFacts } from '../inject/types.js';
import { serverVersion, type ServerVersion } from './client.js';
import { describeKubeError, isNotFound } from './errors.js';
import { toFacts } from './namespaces.js';

export interface OwnerRef {
  kind: string;
  name: string;
}

export interface ClusterPods {
  version: ServerVersion;
  /** The ConfigMap's `config.yaml`, or undefined when the ConfigMap or the key is not there. */
  configText: string | undefined;
  namespaces: Map<string, NamespaceFacts>;
  /** Pods that run or are about to: not finished, not being deleted. */
  pods: V1Pod[];
  /** `<namespace>/<ReplicaSet name>` → the Deployment that controls it. */
  replicaSetOwners: Map<string, OwnerRef>;
}

/** The key of the config in a revision's ConfigMap (`splice`, or `splice-<revision>`). */
export const CONFIG_KEY = 'config.yaml';

/** The object's controller, as its ownerReferences say (the one with controller: true). */
export function controllerOf(refs: Array<{ kind: string; name: string; controller?: boolean }> | undefined): OwnerRef | undefined {
  const ref = (refs ?? []).find((r) => r.controller);
  return ref ? { kind: ref.kind, name: ref.name } : undefined;
}

/**
 * Lists what `splice check` compares.
 *
 * @param spliceNamespace where splice runs and its ConfigMap is
 * @param configMap the ConfigMap of the revision checked against (`splice`, `splice-<revision>`)
 * @param namespace only this namespace's pods and ReplicaSets; undefined: every namespace
 * @throws KubeAccessError from serverVersion, or the client's error (described) when a list is refused
 */
export async function listClusterPods(kc: KubeConfig, spliceNamespace: string, configMap: string, namespace?: string): Promise<ClusterPods> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const version = await serverVersion(kc);
  let configText: string | undefined;
  try {
    configText = (await core.readNamespacedConfigMap({ name: configMap, namespace: spliceNamespace })).data?.[CONFIG_KEY];
  } catch (err) {
    if (!isNotFound(err)) throw new Error(`reading ConfigMap ${spliceNamespace}/${configMap}: ${describeKubeError(err)}`);
  }
  const list = async <T>(what: string, call: () => Promise<{ items: T[] }>): Promise<T[]> => {
    try {
      return (await call()).items;
    } catch (err) {
      throw new Error(`listing ${what}: ${describeKubeError(err)}`);
    }
  };
  const nsList = await list('namespaces', () => core.listNamespace());
  const podList = namespace ? await list(`pods in ${namespace}`, () => core.listNamespacedPod({ namespace })) : await list('pods', () => core.listPodForAllNamespaces());
  const rsList = namespace
    ? await list(`replicasets in ${namespace}`, () => apps.listNamespacedReplicaSet({ namespace }))
    : await list('replicasets', () => apps.listReplicaSetForAllNamespaces());

  const namespaces = new Map<string, NamespaceFacts>();
  for (const ns of nsList) {
    const facts = toFacts(ns);
    if (facts) namespaces.set(facts.name, facts);
  }
  const replicaSetOwners = new Map<string, OwnerRef>();
  for (const rs of rsList) {
    const owner = controllerOf(rs.metadata?.ownerReferences);
    if (owner && rs.metadata?.name) replicaSetOwners.set(`${rs.metadata.namespace}/${rs.metadata.name}`, owner);
  }
  const pods = podList.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  return { version, configText, namespaces, pods, replicaSetOwners };
}
