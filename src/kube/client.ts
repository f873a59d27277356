// Access to the API server: kubeconfig loading and the server's version.

import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import type { ClusterFacts } from '../inject/types.js';

export class KubeAccessError extends Error {
  override name = 'KubeAccessError';
}

/**
 * KUBECONFIG (or ~/.kube/config), else the in-cluster ServiceAccount. client-node
 * silently falls back to http://localhost:8080 when it finds neither; that is never
 * what splice wants, so it is reported instead, with the way out.
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    // A KUBECONFIG naming a missing or broken file: client-node throws the bare fs or
    // parse error, which does not say which file.
    throw new KubeAccessError(`cannot load the kubeconfig ${process.env.KUBECONFIG ?? '~/.kube/config'}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster || cluster.server === 'http://localhost:8080') {
    throw new KubeAccessError(
      'no Kubernetes configuration found: set KUBECONFIG, run inside a cluster (in-cluster ServiceAccount), or use --local to run without a cluster',
    );
  }
  return kc;
}

export type ServerVersion = NonNullable<ClusterFacts['version']>;

/**
 * Reads {major, minor} from /version. Managed clusters report minors such as "30+"
 * (GKE, EKS), and some leave major/minor empty; gitVersion ("v1.30.2-eks-…") is the
 * fallback. Undefined when nothing parses.
 */
export function parseServerVersion(info: { major?: string; minor?: string; gitVersion?: string }): ServerVersion | undefined {
  const major = Number.parseInt(info.major ?? '', 10);
  const minor = Number.parseInt(info.minor ?? '', 10);
  if (Number.isInteger(major) && Number.isInteger(minor)) return { major, minor };
  const m = /^v?(\d+)\.(\d+)/.exec(info.gitVersion ?? '');
  if (m) return { major: Number(m[1]), minor: Number(m[2]) };
  return undefined;
}

/** GET /version (allowed to every client by the default system:public-info-viewer role). */
export async function serverVersion(kc: KubeConfig): Promise<ServerVersion> {
  const info = await kc.makeApiClient(VersionApi).getCode();
  const version = parseServerVersion(info);
  if (!version) throw new KubeAccessError(`the API server reported a version splice cannot read: ${JSON.stringify(info)}`);
  return version;
}
