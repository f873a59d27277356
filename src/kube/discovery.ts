// Service discovery for `splice serve`: watches the cluster's Services, EndpointSlices and
// injected pods, keeps the answers of src/discovery/ current, and serves them to the mesh's
// proxies over mTLS with a certificate of its own from the mesh CA. Every replica serves
// (nothing here needs the lead): the answers depend only on what the informers see.
//
// The server listens only once all three caches have synced and a certificate was
// issued, so no proxy is ever told an empty cluster; until then its connections are
// refused and it asks again at its next poll.
//
// API calls: services list, watch; endpointslices list, watch; pods list, watch (label
// splice.dev/injected=true); secrets get on splice-ca (mesh-ca.ts).

import { CoreV1Api, DiscoveryV1Api, makeInformer, type KubeConfig, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../inject/config.js';
import { IDENTITY_MOUNT_PATH, INJECTED_NAMES, KEYS } from '../inject/keys.js';
import { renderDiscovery, type EndpointSliceObject, type ServiceObject } from '../discovery/resources.js';
import { startDiscoveryServer, type DiscoveryServer } from '../discovery/server.js';
import { DiscoverySnapshot } from '../discovery/snapshot.js';
import { issueIdentity } from '../identity/issue.js';
import { renewalTime } from '../identity/secret.js';
import { KeptInformer } from './informer.js';
import { MeshCaStore } from './mesh-ca.js';

/**
 * Whether the pod runs splice's proxy: labelled as injected and with the container itself.
 * The label alone can be edited on a running pod; the containers cannot.
 */
function hasProxy(pod: V1Pod): boolean {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return all.some((c) => c.name === INJECTED_NAMES.proxy);
}

export interface RunningDiscovery {
  stop(): Promise<void>;
}

// Events come in bursts (a rollout touches a Service's slices many times a second); one
// render after the burst serves them all.
const RENDER_DELAY_MS = 1000;

type Informer<T> = ReturnType<typeof makeInformer<T & { metadata?: { name?: string; namespace?: string } }>>;

function keyed<T extends { metadata?: { namespace?: string; name?: string } }>(informer: Informer<T>, into: Map<string, T>, changed: () => void): void {
  const key = (o: T) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  informer.on('add', (o) => (into.set(key(o), o), changed()));
  informer.on('update', (o) => (into.set(key(o), o), changed()));
  informer.on('delete', (o) => (into.delete(key(o)), changed()));
}

/**
 * Starts discovery on `host:port`. Its certificate is the mesh identity
 * spiffe://<trustDomain>/ns/<injectorNamespace>/sa/<serviceAccount>, renewed at two thirds
 * of identity.certificateLifetimeSeconds and at once when the mesh CA changes. Never
 * throws: a port it cannot bind is logged as an error (the webhook goes on without it).
 */
export function startDiscovery(
  kc: KubeConfig,
  o: { config: Config; host: string; port: number; serviceAccount: string; logger: Logger; caPollMs?: number },
): RunningDiscovery {
  const logger = o.logger.child({ component: 'discovery' });
  const core = kc.makeApiClient(CoreV1Api);
  const discoveryApi = kc.makeApiClient(DiscoveryV1Api);
  const services = new Map<string, V1Service>();
  const slices = new Map<string, V1EndpointSlice>();
  const pods = new Map<string, V1Pod>();
  const snapshot = new DiscoverySnapshot();
  let renderTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const render = () => {
    renderTimer = undefined;
    // Nothing before the caches have synced: a partial first answer would make everything
    // after it look new (see snapshot.ts, HOLD_MS).
    if (!listening) return;
    const meshedPods = new Map<string, { serviceAccount: string }>();
    for (const [key, pod] of pods) if (hasProxy(pod)) meshedPods.set(key, { serviceAccount: pod.spec?.serviceAccountName || 'default' });
    const resources = renderDiscovery({
      services: [...services.values()] as ServiceObject[],
      endpointSlices: [...slices.values()] as EndpointSliceObject[],
      meshedPods,
      trustDomain: o.config.trustDomain,
      identityDir: IDENTITY_MOUNT_PATH,
      maxConnections: o.config.proxy.maxConnections,
    });
    if (snapshot.update(resources)) {
      logger.info({ listeners: resources.listeners.length, clusters: resources.clusters.length, versions: snapshot.versions() }, 'service discovery changed');
    }
  };
  const changed = () => {
    if (!renderTimer && !stopped) renderTimer = setTimeout(render, RENDER_DELAY_MS);
  };

  const injected = `${KEYS.injected}=true`;
  const serviceInformer = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const sliceInformer = makeInformer<V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices', () => discoveryApi.listEndpointSliceForAllNamespaces());
  const podInformer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: injected }), injected);
  keyed(serviceInformer, services, changed);
  keyed(sliceInformer, slices, changed);
  keyed(podInformer, pods, changed);
  const kept = [
    new KeptInformer(serviceInformer, 'service', logger, undefined, () => maybeListen()),
    new KeptInformer(sliceInformer, 'endpoint slice', logger, undefined, () => maybeListen()),
    new KeptInformer(podInformer, 'injected pod', logger, undefined, () => maybeListen()),
  ];

  const ca = new MeshCaStore({ secrets: core, namespace: o.config.injectorNamespace, trustDomain: o.config.trustDomain, logger });
  const lifetimeMs = o.config.identity.certificateLifetimeSeconds * 1000;
  let tls: { cert: string; key: string; trustBundle: string; renewAt: number; ca: string } | undefined;
  let server: DiscoveryServer | undefined;
  let listening = false;

  const ensureCertificate = async (): Promise<void> => {
    const current = ca.current();
    if (!current) return;
    // The roots count too: a root removed from ca.crt must stop being trusted for clients.
    const caState = `${current.fingerprint} ${current.trustBundle}`;
    if (tls && tls.ca === caState && Date.now() < tls.renewAt) return;
    const issued = await issueIdentity(current, { trustDomain: o.config.trustDomain, namespace: o.config.injectorNamespace, serviceAccount: o.serviceAccount }, lifetimeMs);
    // Renewed when the identity controller renews a workload's: at two thirds of its life.
    const renewAt = renewalTime(issued.notBefore, issued.notAfter).getTime();
    tls = { cert: issued.cert, key: issued.key, trustBundle: issued.trustBundle, renewAt, ca: caState };
    server?.setTls(tls);
    logger.info({ notAfter: issued.notAfter.toISOString(), serving: server !== undefined }, 'discovery certificate issued');
  };

  async function maybeListen(): Promise<void> {
    if (listening || stopped || !tls || !kept.every((k) => k.synced())) return;
    listening = true;
    render();
    try {
      const started = await startDiscoveryServer({ host: o.host, port: o.port, tls, snapshot, trustDomain: o.config.trustDomain, logger });
      if (stopped) {
        await started.close();
        return;
      }
      server = started;
      logger.info({ url: server.url, versions: snapshot.versions() }, 'service discovery listening');
    } catch (err) {
      logger.error(
        { err: err instanceof Error ? err.message : String(err), port: o.port },
        'service discovery cannot listen: proxies that ask this replica get no answer (starting ones pass Service traffic through as plaintext, running ones keep their last answer)',
      );
    }
  }

  const tick = async () => {
    try {
      await ca.refresh(false);
      await ensureCertificate();
      await maybeListen();
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'the mesh CA could not be read; discovery keeps its certificate');
    }
  };
  // Until the first certificate exists (the leader may still be creating the CA), asked
  // every few seconds; after that at the CA poll interval.
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void tick().then(schedule), tls ? (o.caPollMs ?? 30_000) : 2_000);
    timer.unref();
  };
  void tick().then(schedule);
  for (const k of kept) void k.start();

  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (renderTimer) clearTimeout(renderTimer);
      for (const k of kept) await k.stop();
      await server?.close();
    },
  };
}
