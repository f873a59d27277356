// Where the webhook learns about a pod's namespace. In a cluster: an informer-backed
// cache (src/kube/namespaces.ts). With `--local`: nothing to ask, so every namespace
// is taken as enabled (CONVENTIONS: `serve --local` trusts the API server's
// namespaceSelector to send only pods from enabled namespaces).

import type { NamespaceFacts } from '../inject/types.js';

export interface NamespaceSource {
  /** The namespace's facts, or undefined when it does not exist. Rejects when it cannot tell. */
  get(name: string): Promise<NamespaceFacts | undefined>;
  /** True once the source can answer from a complete picture (the informer's first list). */
  ready(): boolean;
}

/** `--local`: every namespace carries `splice.dev/inject: enabled`. */
export function trustingNamespaceSource(): NamespaceSource {
  return {
    get: (name) => Promise.resolve({ name, labels: { 'splice.dev/inject': 'enabled' }, annotations: {} }),
    ready: () => true,
  };
}
