// Assembles the identity controller of a cluster for `splice serve`: its caches, the
// mesh CA, leader election on the Lease `splice-identity` of the injector namespace,
// and the controller itself, with their metrics.

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../inject/config.js';
import type { Metrics } from '../webhook/metrics.js';
import { IdentityCaches, clusterInformers } from './identity-caches.js';
import { IdentityController, type NamespaceView } from './identity-controller.js';
import { LeaderElector, candidateIdentity, clusterLeaseApi } from './lease.js';
import { MeshCaStore } from './mesh-ca.js';

export const LEASE_NAME = 'splice-identity';
export const LEASE_DURATION_MS = 15_000;

export interface RunningIdentity {
  elector: LeaderElector;
  stop(): Promise<void>;
}

export function startIdentityController(
  kc: KubeConfig,
  o: { config: Config; namespaces: NamespaceView; metrics: Metrics; logger: Logger; caPollMs?: number },
): RunningIdentity {
  const logger = o.logger.child({ component: 'identity' });
  const core = kc.makeApiClient(CoreV1Api);
  const ca = new MeshCaStore({ secrets: core, namespace: o.config.injectorNamespace, trustDomain: o.config.trustDomain, logger });
  let controller: IdentityController | undefined;
  const caches = new IdentityCaches(clusterInformers(kc), (key) => controller?.enqueue(key), logger);
  const elector = new LeaderElector({
    api: clusterLeaseApi(kc, o.config.injectorNamespace, LEASE_NAME),
    identity: candidateIdentity(),
    leaseDurationMs: LEASE_DURATION_MS,
    logger,
    onStartedLeading: () => void controller?.onStartedLeading(),
    onStoppedLeading: () => controller?.onStoppedLeading(),
  });
  controller = new IdentityController({
    config: o.config,
    lifetimeMs: o.config.identity.certificateLifetimeSeconds * 1000,
    namespaces: o.namespaces,
    caches,
    ca,
    elector,
    secrets: core,
    metrics: o.metrics.identity,
    logger,
    ...(o.caPollMs !== undefined ? { caPollMs: o.caPollMs } : {}),
  });
  o.metrics.identity.observe({ earliestExpiry: () => caches.earliestExpiry(), isLeader: () => elector.isLeader() });
  controller.start();
  void caches.start();
  // Every replica reads the CA at start; only the leader creates it (onStartedLeading).
  void ca.refresh(false).catch((err: unknown) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'the mesh CA could not be read yet'));
  elector.start();
  logger.info({ identity: elector.identity, lease: `${o.config.injectorNamespace}/${LEASE_NAME}` }, 'identity controller started');
  return {
    elector,
    stop: async () => {
      controller?.stop();
      await elector.stop();
      await caches.stop();
    },
  };
}
