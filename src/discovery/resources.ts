// What discovery tells every proxy: for each Service port with an endpoint that is an
// injected pod (ready or not: a listener must outlive a backend's restart, as removing one
// closes the connections on it), a listener on its ClusterIP and port (never bound: the
// outbound listener hands it the connections the app made to that address, see
// bootstrap.ts) and a cluster of the Service's ready endpoints. Meshed endpoints are reached as the mesh reaches a pod, with
// mTLS to its port 15008 and the target port as the TLS server name, and must prove the
// exact identity of that pod's service account; the others get the app's bytes as sent.
//
// A Service port none of whose endpoints is meshed gets nothing: the connection passes
// through to the ClusterIP as before, and kube-proxy keeps every one of its own rules for
// it. So do Services whose semantics a proxy that sees every endpoint cannot keep
// (internalTrafficPolicy Local: only the node's own endpoints), headless and ExternalName
// Services (no ClusterIP: the pod addresses they resolve to are proxy.meshCidrs' case),
// and ports other than TCP.
//
// Pure: the same objects always give the same resources, in the same order.

import { PROXY_PORTS } from '../iptables/options.js';
import { accessLog, address, connectionLimits, meshTlsContext, spiffeId, tcpProxy } from '../inject/bootstrap.js';
import type { JsonObject } from '../inject/types.js';

/** The fields of a core/v1 Service that discovery reads. */
export interface ServiceObject {
  metadata?: { namespace?: string; name?: string };
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ports?: Array<{ name?: string; port?: number; protocol?: string }>;
    sessionAffinity?: string;
    internalTrafficPolicy?: string;
  };
}

/** The fields of a discovery.k8s.io/v1 EndpointSlice that discovery reads. */
export interface EndpointSliceObject {
  metadata?: { namespace?: string; labels?: Record<string, string> };
  addressType?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }> | null;
  endpoints?: Array<{
    addresses?: string[];
    conditions?: { ready?: boolean | null };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }> | null;
}

export interface DiscoveryInput {
  services: readonly ServiceObject[];
  endpointSlices: readonly EndpointSliceObject[];
  /** Injected pods by "namespace/name": their service account (a meshed pod's identity). */
  meshedPods: ReadonlyMap<string, { serviceAccount: string }>;
  trustDomain: string;
  /** Where proxies have their identity mounted (the same path in every injected pod). */
  identityDir: string;
  maxConnections: number;
}

export interface DiscoveryResources {
  /** Envoy v3 Listeners, each with its `@type`, ordered by name. */
  listeners: JsonObject[];
  /** Envoy v3 Clusters, each with its `@type`, ordered by name. */
  clusters: JsonObject[];
}

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
// Envoy matches a transport socket to an endpoint by the endpoint's metadata under this key.
const SOCKET_MATCH_KEY = 'envoy.transport_socket_match';

interface Endpoint {
  ip: string;
  /** The port the endpoint serves the Service port on. */
  targetPort: number;
  /** The SPIFFE ID of a meshed endpoint's service account; undefined when not meshed. */
  identity: string | undefined;
  ready: boolean;
}

const isIPv6 = (ip: string) => ip.includes(':');
const familyOf = (ip: string) => (isIPv6(ip) ? 'IPv6' : 'IPv4');

/**
 * The listeners and clusters every proxy gets, from the cluster's Services, their
 * EndpointSlices and the injected pods. Rule sources: EndpointSlice conditions
 * (Kubernetes docs, "EndpointSlices": a consumer uses `ready`, unset meaning ready),
 * Service ports matched to slice ports by name (an unnamed port is ""), and Envoy's
 * `use_original_dst` hand-off to a listener with `bind_to_port: false`.
 */
export function renderDiscovery(input: DiscoveryInput): DiscoveryResources {
  const slicesByService = new Map<string, EndpointSliceObject[]>();
  for (const slice of input.endpointSlices) {
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const namespace = slice.metadata?.namespace;
    if (!service || !namespace) continue;
    const key = `${namespace}/${service}`;
    slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice]);
  }

  const listeners: JsonObject[] = [];
  const clusters: JsonObject[] = [];
  for (const service of input.services) {
    const namespace = service.metadata?.namespace;
    const name = service.metadata?.name;
    const spec = service.spec;
    if (!namespace || !name || !spec) continue;
    if (spec.type === 'ExternalName' || spec.internalTrafficPolicy === 'Local') continue;
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip !== 'None' && ip !== '');
    const slices = slicesByService.get(`${namespace}/${name}`) ?? [];
    for (const port of spec.ports ?? []) {
      if ((port.protocol ?? 'TCP') !== 'TCP' || !port.port) continue;
      for (const clusterIP of clusterIPs) {
        const all = endpointsOf(slices, port.name ?? '', familyOf(clusterIP), input);
        if (!all.some((e) => e.identity !== undefined)) continue;
        const endpoints = all.filter((e) => e.ready);
        const clusterName = `svc|${namespace}|${name}|${port.port}${isIPv6(clusterIP) ? '|v6' : ''}`;
        const affinity = spec.sessionAffinity === 'ClientIP';
        clusters.push(serviceCluster(clusterName, endpoints, affinity, input));
        listeners.push(serviceListener(clusterIP, port.port, clusterName, affinity));
      }
    }
  }
  const byName = (a: JsonObject, b: JsonObject) => String(a.name).localeCompare(String(b.name));
  return { listeners: listeners.sort(byName), clusters: clusters.sort(byName) };
}

function endpointsOf(slices: readonly EndpointSliceObject[], portName: string, family: string, input: DiscoveryInput): Endpoint[] {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== family) continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP');
    if (!slicePort?.port) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const ready = endpoint.conditions?.ready !== false;
      const ref = endpoint.targetRef;
      const pod = ref?.kind === 'Pod' && ref.name ? input.meshedPods.get(`${ref.namespace ?? slice.metadata?.namespace}/${ref.name}`) : undefined;
      const identity = pod ? spiffeId({ trustDomain: input.trustDomain, namespace: ref?.namespace ?? slice.metadata?.namespace ?? '', serviceAccount: pod.serviceAccount }) : undefined;
      for (const ip of endpoint.addresses ?? []) {
        const key = `${ip}:${slicePort.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ ip, targetPort: slicePort.port, identity, ready });
      }
    }
  }
  return out.sort((a, b) => `${a.ip}:${a.targetPort}`.localeCompare(`${b.ip}:${b.targetPort}`));
}

function serviceCluster(name: string, endpoints: readonly Endpoint[], affinity: boolean, input: DiscoveryInput): JsonObject {
  // One TLS transport socket per identity and target port among the meshed endpoints:
  // each names the port in its server name and accepts only that identity.
  const sockets = new Map<string, { identity: string; port: number }>();
  for (const e of endpoints) if (e.identity) sockets.set(`${e.identity} ${e.targetPort}`, { identity: e.identity, port: e.targetPort });
  const socketNames = new Map([...sockets.keys()].sort().map((key, i) => [key, `mtls-${i}`]));
  const lbEndpoints = endpoints.map((e): JsonObject =>
    e.identity
      ? {
          endpoint: { address: address(e.ip, PROXY_PORTS.mtls) },
          metadata: { filter_metadata: { [SOCKET_MATCH_KEY]: { mtls: socketNames.get(`${e.identity} ${e.targetPort}`) ?? '' } } },
        }
      : { endpoint: { address: address(e.ip, e.targetPort) } },
  );
  return {
    '@type': CLUSTER_TYPE,
    name,
    type: 'STATIC',
    connect_timeout: '10s',
    // kube-proxy picks an endpoint per connection at random; ClientIP affinity keeps a
    // client on one endpoint, as a hash of its address does here.
    lb_policy: affinity ? 'RING_HASH' : 'ROUND_ROBIN',
    circuit_breakers: connectionLimits(input),
    upstream_connection_options: { tcp_keepalive: {} },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] },
    transport_socket_matches: [...socketNames].map(([key, socketName]) => {
      const { identity, port } = sockets.get(key) as { identity: string; port: number };
      return {
        name: socketName,
        match: { mtls: socketName },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            // The peer's 15008 reads the port to connect to from the server name.
            sni: String(port),
            common_tls_context: meshTlsContext(input, { exact: identity }),
          },
        },
      };
    }),
  };
}

/** The cluster a listener of renderDiscovery sends its connections to. */
export function listenerCluster(listener: JsonObject): string | undefined {
  const chains = listener.filter_chains as Array<{ filters?: Array<{ typed_config?: { cluster?: string } }> }> | undefined;
  return chains?.[0]?.filters?.[0]?.typed_config?.cluster;
}

function serviceListener(clusterIP: string, port: number, cluster: string, affinity: boolean): JsonObject {
  return {
    '@type': LISTENER_TYPE,
    name: `svc|${isIPv6(clusterIP) ? `[${clusterIP}]` : clusterIP}:${port}`,
    address: address(clusterIP, port),
    // Never bound: only connections the outbound listener hands over arrive here.
    bind_to_port: false,
    traffic_direction: 'OUTBOUND',
    stat_prefix: 'outbound_service',
    filter_chains: [
      {
        name: 'outbound-service',
        filters: [
          tcpProxy('outbound_service', cluster, accessLog('outbound'), {
            // An endpoint that went away since the last poll refuses or times out; the
            // connection is tried on another before the app sees a failure.
            max_connect_attempts: 3,
            ...(affinity ? { hash_policy: [{ source_ip: {} }] } : {}),
          }),
        ],
      },
    ],
  };
}
