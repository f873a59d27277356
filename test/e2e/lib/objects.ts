// The few shapes the scenarios read back from the API server.
export interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>;
}

export interface ContainerJson {
  name: string;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface PodJson {
  metadata: Meta;
  spec: {
    containers: ContainerJson[];
    initContainers?: ContainerJson[];
    volumes?: Array<{ name: string; [key: string]: unknown }>;
    [key: string]: unknown;
  };
}

export interface List<T> {
  items: T[];
}

export const names = (cs: Array<{ name: string }> | undefined): string[] => (cs ?? []).map((c) => c.name);

export function isInjected(p: PodJson): boolean {
  return p.metadata.annotations?.['splice.dev/status'] !== undefined;
}

/** A plain pod manifest, with whatever metadata the scenario needs. */
export function podManifest(name: string, namespace: string, meta: Partial<Meta> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...meta },
    spec: { containers: [{ name: 'app', image: 'example.com/app:1', ports: [{ containerPort: 8080 }] }] },
  };
}

export function namespaceManifest(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } };
}
