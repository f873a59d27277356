// Small builders for test pods and namespaces, so a table row says only what differs.
import type { NamespaceFacts, Pod } from '../../src/inject/types.js';

export interface PodOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  hostNetwork?: boolean;
  containers?: string[];
  initContainers?: string[];
  serviceAccountName?: string;
}

export function pod(o: PodOptions = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: {
      containers: (o.containers ?? ['app']).map((name) => ({ name, image: `example.com/${name}:1` })),
      ...(o.initContainers ? { initContainers: o.initContainers.map((name) => ({ name, image: `example.com/${name}:1` })) } : {}),
      ...(o.hostNetwork !== undefined ? { hostNetwork: o.hostNetwork } : {}),
      ...(o.serviceAccountName ? { serviceAccountName: o.serviceAccountName } : {}),
    },
  };
}

export function ns(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): NamespaceFacts {
  return { name, labels, annotations };
}

export const ENABLED = { 'splice.dev/inject': 'enabled' };
export const DISABLED = { 'splice.dev/inject': 'disabled' };

/** `p` with `fields` set on its spec (replacing what was there). */
export function withSpec(p: Pod, fields: Record<string, unknown>): Pod {
  return { ...p, spec: { ...p.spec, ...fields } };
}

/** `p` with `fields` set on its first container. */
export function withApp(p: Pod, fields: Record<string, unknown>): Pod {
  const [first, ...rest] = p.spec.containers;
  return withSpec(p, { containers: [{ ...first, ...fields }, ...rest] });
}
