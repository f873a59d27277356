// The Envoy bootstrap the splice-proxy container starts with, built as plain objects and
// written as JSON (splice-init renders it from the input the pod carries, see
// bootstrap-input.ts), so no template can emit a half-valid document. Pure: the same
// input always yields the same object.
//
// Traffic shape: the pod's redirect rules send inbound TCP to 15006 and outbound TCP to
// 15001; both listeners recover the address the connection was really meant for
// (original_dst) and forward to it. Outbound, a destination inside the mesh's pod CIDRs
// is reached through its own proxy: the connection goes to the peer's mTLS port 15008
// with the pod's identity, and the port the app dialled travels as the TLS server name
// (SNI); any other destination is left untouched. The peer's proxy terminates the mTLS
// and connects to that port on its own pod's address.
//
// Why mesh peers have a port of their own (as Linkerd's 4143 and Istio's 15008), instead
// of mTLS to the app port sniffed out on 15006: nothing on 15006 has to be read before
// the connection is forwarded, so clients outside the mesh see the app exactly as without
// a proxy (a server that speaks first is not held for a detection timeout; a request and
// its FIN arriving together is not lost to a detection still reading), and a port the
// server excludes from its redirect is still reached by mesh clients, through 15008.
//
// A Service's ClusterIP is not a pod: nothing there has port 15008, and behind it kube-proxy
// may pick a pod outside the mesh. With service discovery on, splice's replicas tell each
// proxy (REST xDS, polled) every Service port with its endpoints and which of them are
// meshed: a listener per ClusterIP and port that the outbound listener hands a connection
// to (use_original_dst), and a cluster that balances over the endpoints, with mTLS to the
// meshed ones (to their 15008, as their own pod's identity) and plaintext to the others.
// A ClusterIP discovery has not told about passes through as before (src/discovery/).
//
// The admin interface stays on loopback; only /ready and /stats/prometheus are reachable
// from outside, each through a one-route proxy.

import { PROXY_PORTS } from '../iptables/options.js';
import { adminRoute, appHealthClusters, healthListener, httpListener } from './health-listener.js';
import { identityMatcher, type InboundPolicy } from './policy.js';
import type { AppProbe } from './probes.js';
import type { JsonObject } from './types.js';

export interface BootstrapInput {
  /**
   * The pod's own address, where the readiness and metrics listeners bind (with loopback).
   * The engine gives `$(POD_IP)`, which the kubelet expands in splice-init's args from its env.
   */
  podIp: string;
  namespace: string;
  serviceAccount: string;
  trustDomain: string;
  /** Where the workload identity (tls.crt, tls.key, ca.crt) is mounted. */
  identityDir: string;
  drainSeconds: number;
  /** Destinations that are meshed pods: outbound connections to them originate mTLS. */
  meshCidrs: readonly string[];
  /**
   * The most connections each of the proxy's clusters (outbound passthrough, outbound
   * mTLS, inbound) holds at once; past it Envoy closes new ones (`upstream_cx_overflow`).
   */
  maxConnections: number;
  /** Listen on IPv6 (`::`) as well as IPv4, for pods whose IPv6 traffic is redirected. */
  ipv6: boolean;
  /** Where splice's discovery (REST xDS) answers; absent: no service discovery. */
  discovery?: DiscoveryServer;
  /** Who may reach the app's ports: `strict` closes every connection that is not mTLS on 15008 (policy.ts). */
  inboundPolicy: InboundPolicy;
  /** The SPIFFE IDs allowed on 15008 (policy.ts parseAllowFrom); absent or empty: any of the trust domain. */
  allowFrom?: readonly string[];
  /** The app's probes the health listener answers for (probes.ts); absent: none. */
  appProbes?: readonly AppProbe[];
}

export interface DiscoveryServer {
  /** A DNS name (resolved by the pod's resolver) or an IP address. */
  host: string;
  port: number;
  /** The namespace splice runs in: its replicas prove an identity of it. */
  namespace: string;
}

/** The port splice's replicas serve discovery on, in the pod and on the Service `splice`. */
export const DISCOVERY_PORT = 15012;

/**
 * How often, in seconds, a proxy asks discovery for listeners and clusters; Envoy adds up
 * to as much again as jitter, so a change reaches every proxy within twice this. Unchanged
 * answers are a 304 without a body.
 */
export const DISCOVERY_REFRESH_SECONDS = 3;
/**
 * How long a starting proxy waits for its first answer from discovery before it starts
 * without (Service traffic then passes through as plaintext until an answer arrives).
 */
export const DISCOVERY_INITIAL_FETCH_SECONDS = 5;

/**
 * The ALPN protocol a mesh proxy offers when it originates mTLS. The mTLS port accepts
 * only TLS that offers it; TLS to an app port is the app's own (a client speaking HTTPS to
 * the app) and passes through to the app unterminated, whatever it offers.
 */
export const MESH_ALPN = 'splice-mtls';

/**
 * The file-based SDS resources Envoy loads the identity through, by file name under
 * `identityDir`. They must sit next to the certificates (see `renderSdsFiles`).
 */
export const SDS_FILES = Object.freeze({
  certificate: 'sds-certificate.json',
  trustBundle: 'sds-trust-bundle.json',
});

const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const CERTIFICATE_SECRET = 'splice-identity';
const TRUST_BUNDLE_SECRET = 'splice-trust-bundle';
const ADMIN_CLUSTER = 'splice-admin';
const BLACKHOLE_CLUSTER = 'blackhole';
const OUTBOUND_CLUSTER = 'outbound-passthrough';
const OUTBOUND_MTLS_CLUSTER = 'outbound-mtls';
const INBOUND_CLUSTER = 'inbound-passthrough';
const DISCOVERY_CLUSTER = 'splice-discovery';

export function spiffeId(input: Pick<BootstrapInput, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return `spiffe://${input.trustDomain}/ns/${input.namespace}/sa/${input.serviceAccount}`;
}

function inDir(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

/** An Envoy socket address (config.core.v3.Address). */
export function address(ip: string, port: number): JsonObject {
  return { socket_address: { address: ip, port_value: port } };
}

/**
 * Where a listener binds: IPv4's any address, and IPv6's as a second socket when the
 * pod's IPv6 is redirected (Envoy binds `::` with IPV6_V6ONLY, so the two never clash).
 */
function bindTo(input: BootstrapInput, port: number): JsonObject {
  return {
    address: address('0.0.0.0', port),
    ...(input.ipv6 ? { additional_addresses: [{ address: address('::', port) }] } : {}),
  };
}

/**
 * The SDS resources, as the files Envoy's `path_config_source` reads. They only name the PEM
 * files; the certificates themselves never pass through splice.
 *
 * Kubernetes updates a Secret volume by writing a new timestamped directory and renaming the
 * `..data` symlink over the old one, so `tls.crt` (a symlink through `..data`) never sees an
 * event of its own; the rename is a move inside `identityDir`. Naming that directory as
 * `watched_directory` makes Envoy reload on exactly that move and read the certificate and
 * key as one consistent pair (a half-written pair is retried, not served).
 *
 * Nothing in a Secret volume can be written by the pod, so these files must arrive in the
 * volume with the certificates, under these names.
 */
export function renderSdsFiles(input: Pick<BootstrapInput, 'identityDir'>): Record<string, JsonObject> {
  const dir = input.identityDir;
  const watched = { path: dir };
  return {
    [SDS_FILES.certificate]: {
      resources: [
        {
          '@type': SECRET_TYPE,
          name: CERTIFICATE_SECRET,
          tls_certificate: {
            certificate_chain: { filename: inDir(dir, 'tls.crt') },
            private_key: { filename: inDir(dir, 'tls.key') },
            watched_directory: watched,
          },
        },
      ],
    },
    [SDS_FILES.trustBundle]: {
      resources: [
        {
          '@type': SECRET_TYPE,
          name: TRUST_BUNDLE_SECRET,
          validation_context: {
            trusted_ca: { filename: inDir(dir, 'ca.crt') },
            watched_directory: watched,
          },
        },
      ],
    },
  };
}

// Static secrets in the bootstrap are read once and never again; only secrets delivered
// through SDS are watched, hence the file-based SDS even though there is no SDS server.
function sdsSecret(input: Pick<BootstrapInput, 'identityDir'>, name: string, file: string): JsonObject {
  return {
    name,
    sds_config: {
      path_config_source: {
        path: inDir(input.identityDir, file),
        // The SDS file is itself a symlink through `..data`: without this Envoy would watch
        // the symlink's own path, which Kubernetes never moves (see renderSdsFiles).
        watched_directory: { path: input.identityDir },
      },
      resource_api_version: 'V3',
    },
  };
}

// Envoy's well-known filter state keys (docs: "Well Known Filter State Objects"): the
// upstream TLS server name, and the address an ORIGINAL_DST cluster connects to.
const UPSTREAM_SERVER_NAME = 'envoy.network.upstream_server_name';
const ORIGINAL_DST_ADDRESS = 'envoy.network.transport_socket.original_dst_address';

// On the mTLS port the destination is not where the connection arrived (15008) but the
// pod's address with the port the peer named, as set_filter_state recorded it.
const MTLS_DESTINATION = `%FILTER_STATE(${ORIGINAL_DST_ADDRESS}:PLAIN)%`;

export function accessLog(direction: 'inbound' | 'outbound', destination = '%DOWNSTREAM_LOCAL_ADDRESS%'): JsonObject[] {
  const fields: JsonObject = {
    start_time: '%START_TIME%',
    direction,
    downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
    // After the original_dst listener filter this is where the client meant to connect.
    original_destination: destination,
    upstream_host: '%UPSTREAM_HOST%',
    upstream_cluster: '%UPSTREAM_CLUSTER%',
    filter_chain: '%FILTER_CHAIN_NAME%',
    bytes_received: '%BYTES_RECEIVED%',
    bytes_sent: '%BYTES_SENT%',
    duration_ms: '%DURATION%',
    response_flags: '%RESPONSE_FLAGS%',
    connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
    upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  };
  if (direction === 'inbound') {
    // The identity the peer presented: also when it was refused for it (allow-from).
    fields.peer_identity = '%DOWNSTREAM_PEER_URI_SAN%';
    fields.tls_version = '%DOWNSTREAM_TLS_VERSION%';
    // Why a handshake failed: no certificate, another CA, an identity not allowed.
    fields.downstream_transport_failure_reason = '%DOWNSTREAM_TRANSPORT_FAILURE_REASON%';
  } else {
    // The identity the destination proved, when the connection went out as mTLS.
    fields.peer_identity = '%UPSTREAM_PEER_URI_SAN%';
  }
  return [
    {
      name: 'envoy.access_loggers.stdout',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
        log_format: { json_format: fields },
      },
    },
  ];
}

export function tcpProxy(statPrefix: string, cluster: string, log: JsonObject[], extra: JsonObject = {}): JsonObject {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
      stat_prefix: statPrefix,
      cluster,
      // Envoy closes a connection idle for an hour by default; without a proxy nothing
      // would, so neither does splice. The app's keepalive probes end at the proxy, so the
      // proxy's own sockets keep alive instead (keepAlive), and a peer that vanished is
      // still found out, as the kernel would have found it for the app.
      idle_timeout: '0s',
      ...(log.length ? { access_log: log } : {}),
      ...extra,
    },
  };
}

// A connection whose original destination is the capture port itself was not redirected
// (someone dialled 15001/15006 directly). Passing it through would connect Envoy to its own
// listener, which would do the same again: a connection loop that ends only when file
// descriptors run out. Such connections are closed instead.
function loopGuard(port: number): JsonObject {
  return {
    name: `loop-guard-${port}`,
    filter_chain_match: { destination_port: port },
    filters: [tcpProxy(`loop_guard_${port}`, BLACKHOLE_CLUSTER, [])],
  };
}

function originalDst(): JsonObject {
  return {
    name: 'envoy.filters.listener.original_dst',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' },
  };
}

/**
 * The pod's own address and loopback, never the any-address: with service discovery the
 * outbound listener hands a redirected connection to the listener of its original
 * destination's port when one is bound to the any-address, so an app's connection to
 * another pod's 15021 or 15090 would be answered by its own proxy.
 */
function bindToPod(input: BootstrapInput, port: number): JsonObject {
  const loopback = [address('127.0.0.1', port), ...(input.ipv6 ? [address('::1', port)] : [])];
  return { address: address(input.podIp, port), additional_addresses: loopback.map((a) => ({ address: a })) };
}

/** A CIDR as Envoy's CidrRange (the config parser has already checked it). */
function cidrRange(cidr: string): JsonObject {
  const slash = cidr.lastIndexOf('/');
  return { address_prefix: cidr.slice(0, slash), prefix_len: Number(cidr.slice(slash + 1)) };
}

/** An Envoy StringMatcher on a peer's URI SAN. */
export type PeerMatcher = { exact?: string; prefix?: string };

/**
 * What both ends of the mesh's mTLS present and accept: the pod's own certificate, and
 * peers whose chain ends at the mesh's trust bundle and whose SPIFFE ID matches
 * `peerIdentity`, or any one of a list of matchers (default: any ID of this trust domain).
 * A pod address in proxy.meshCidrs says nothing of who runs there, so any identity of the
 * mesh is accepted there (the log records which one it was); through a Service, discovery
 * names the exact identity; a pod's allow-from (policy.ts) narrows what its 15008 accepts.
 *
 * @returns an Envoy v3 CommonTlsContext
 */
export function meshTlsContext(input: Pick<BootstrapInput, 'identityDir' | 'trustDomain'>, peerIdentity?: PeerMatcher | readonly PeerMatcher[]): JsonObject {
  const matchers = peerIdentity === undefined ? [{ prefix: `spiffe://${input.trustDomain}/` }] : Array.isArray(peerIdentity) ? peerIdentity : [peerIdentity];
  return {
    // Envoy's own maximum is TLS 1.2 on the client side: both ends are splice's, so 1.3.
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
    alpn_protocols: [MESH_ALPN],
    tls_certificate_sds_secret_configs: [sdsSecret(input, CERTIFICATE_SECRET, SDS_FILES.certificate)],
    combined_validation_context: {
      // The CA bundle comes from the identity volume; which identities it may vouch for
      // is policy, kept here: only SPIFFE IDs of this mesh's trust domain.
      default_validation_context: {
        // Any one of them will do (Envoy: a certificate passes when one matcher matches).
        match_typed_subject_alt_names: matchers.map((matcher) => ({ san_type: 'URI', matcher })),
      },
      validation_context_sds_secret_config: sdsSecret(input, TRUST_BUNDLE_SECRET, SDS_FILES.trustBundle),
    },
  };
}

/** A network filter that sets one filter state object from a format string, per connection. */
function setFilterState(key: string, format: string, sharedWithUpstream: boolean): JsonObject {
  return {
    name: 'envoy.filters.network.set_filter_state',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config',
      on_new_connection: [
        {
          object_key: key,
          format_string: { text_format_source: { inline_string: format } },
          ...(sharedWithUpstream ? { shared_with_upstream: 'ONCE' } : {}),
        },
      ],
    },
  };
}

function outboundListener(input: BootstrapInput): JsonObject {
  const chains: JsonObject[] = [loopGuard(PROXY_PORTS.outbound)];
  if (input.meshCidrs.length > 0) {
    chains.push({
      name: 'outbound-mtls',
      // The destination the app dialled, as original_dst restored it.
      filter_chain_match: { prefix_ranges: input.meshCidrs.map(cidrRange) },
      filters: [
        // The port the app dialled rides in the TLS server name: the peer's proxy reads it
        // and connects there (see mtlsListener).
        setFilterState(UPSTREAM_SERVER_NAME, '%DOWNSTREAM_LOCAL_PORT%', true),
        tcpProxy('outbound_mtls', OUTBOUND_MTLS_CLUSTER, accessLog('outbound')),
      ],
    });
  }
  chains.push({
    // Outside the mesh: the app's bytes leave exactly as they would without the proxy.
    name: 'outbound-passthrough',
    filters: [tcpProxy('outbound', OUTBOUND_CLUSTER, accessLog('outbound'))],
  });
  return {
    name: 'outbound',
    ...bindTo(input, PROXY_PORTS.outbound),
    stat_prefix: 'outbound',
    // A connection to a ClusterIP and port that discovery made a listener for goes to that
    // listener; any other stays here. Without discovery there is no such listener.
    ...(input.discovery ? { use_original_dst: true } : {}),
    listener_filters: [originalDst()],
    filter_chains: chains,
  };
}

/**
 * Redirected inbound connections: under the permissive policy passed to the app as they
 * came, with nothing read first. Mesh peers never arrive here (they connect to the mTLS
 * port), so there is nothing to tell apart: no protocol detection, no timeout, no byte
 * held back. Under the strict policy nothing that arrives here is a mesh peer, so every
 * connection is closed at once, unanswered, and logged with who made it.
 */
function inboundListener(input: BootstrapInput): JsonObject {
  const strict = input.inboundPolicy === 'strict';
  return {
    name: 'inbound',
    ...bindTo(input, PROXY_PORTS.inbound),
    socket_options: keepAlive(),
    stat_prefix: 'inbound',
    listener_filters: [originalDst()],
    filter_chains: [
      loopGuard(PROXY_PORTS.inbound),
      strict
        ? {
            // Counted as envoy_tcp_downstream_cx_total{envoy_tcp_prefix="inbound_refused"}.
            name: 'inbound-refused',
            filter_chain_match: {},
            filters: [tcpProxy('inbound_refused', BLACKHOLE_CLUSTER, accessLog('inbound'))],
          }
        : {
            // Permissive: clients outside the mesh reach the app as they would without splice.
            name: 'inbound-passthrough',
            filter_chain_match: {},
            filters: [tcpProxy('inbound_passthrough', INBOUND_CLUSTER, accessLog('inbound'))],
          },
    ],
  };
}

/**
 * The port mesh peers connect to. Only TLS offering the mesh's ALPN with a client
 * certificate of this trust domain gets through; the server name the peer sent is the app
 * port it wants, and the connection goes to that port on the address it arrived at (the
 * pod's own), never anywhere else. One chain per address family, as an IPv6 address needs
 * brackets before its port. A server name that names the admin, a capture port or 15008
 * is refused by a chain of its own, before any handshake; one that is not a port at all
 * leaves the destination unset, and the connection finds no host and is closed.
 */
function mtlsListener(input: BootstrapInput): JsonObject {
  // With an allow list, a peer of another identity fails the handshake itself: it never
  // gets a connection to the app, and the log shows the identity it presented.
  const allowed = input.allowFrom?.length ? input.allowFrom.map(identityMatcher) : undefined;
  const downstreamTls: JsonObject = {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    require_client_certificate: true,
    common_tls_context: meshTlsContext(input, allowed),
  };
  const families: Array<[string, string, string]> = [['inbound-mtls', '0.0.0.0/0', '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%:%REQUESTED_SERVER_NAME%']];
  if (input.ipv6) families.push(['inbound-mtls-ipv6', '::/0', '[%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%]:%REQUESTED_SERVER_NAME%']);
  const peerChains = families.map(([name, family, destination]) => ({
    name,
    filter_chain_match: { prefix_ranges: [cidrRange(family)], transport_protocol: 'tls', application_protocols: [MESH_ALPN] },
    transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: downstreamTls },
    // A client that starts a handshake and stalls is not left holding the connection.
    transport_socket_connect_timeout: '10s',
    filters: [
      setFilterState(ORIGINAL_DST_ADDRESS, destination, false),
      tcpProxy('inbound_mtls', INBOUND_CLUSTER, accessLog('inbound', MTLS_DESTINATION), {
        // The app is dialled only once the peer has proved a mesh identity: a client that
        // fails the handshake never opens a connection to it.
        upstream_connect_mode: 'ON_DOWNSTREAM_TLS_HANDSHAKE',
        max_early_data_bytes: 0,
      }),
    ],
  }));
  const proxyPortChain = {
    // The admin, the capture ports, 15008 itself: nothing a peer should reach through here
    // (the admin listens on loopback only, the capture ports would loop). Matched by server
    // name before any handshake, and closed unanswered. The same address ranges as the
    // chains above, or Envoy, which compares addresses first, would never get this far.
    // /ready and /stats/prometheus stay reachable: a meshed Prometheus scrapes them here.
    name: 'inbound-mtls-proxy-port',
    filter_chain_match: {
      prefix_ranges: families.map(([, family]) => cidrRange(family)),
      server_names: [PROXY_PORTS.admin, PROXY_PORTS.outbound, PROXY_PORTS.inbound, PROXY_PORTS.mtls].map(String),
      transport_protocol: 'tls',
      application_protocols: [MESH_ALPN],
    },
    filters: [tcpProxy('inbound_mtls_proxy_port', BLACKHOLE_CLUSTER, accessLog('inbound'))],
  };
  return {
    name: 'inbound-mtls',
    ...bindTo(input, PROXY_PORTS.mtls),
    socket_options: keepAlive(),
    stat_prefix: 'inbound_mtls',
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
      },
    ],
    // A mesh peer's ClientHello is its first bytes; whoever sends nothing is not one.
    listener_filters_timeout: '10s',
    // Connections no chain takes (not TLS, another ALPN) are logged too, with who sent them;
    // the others are logged by their chain's tcp_proxy.
    access_log: accessLog('inbound').map((log) => ({ ...log, filter: { response_flag_filter: { flags: ['NFCF'] } } })),
    filter_chains: [proxyPortChain, ...peerChains],
  };
}

/**
 * Envoy's default circuit breakers allow 1,024 connections and 1,024 pending connections
 * per cluster, and close the rest at once (`UO`): far fewer than an app holds without a
 * proxy. Every cluster to an original destination gets the configured limit instead.
 */
export function connectionLimits(input: Pick<BootstrapInput, 'maxConnections'>): JsonObject {
  const n = input.maxConnections;
  return { thresholds: [{ priority: 'DEFAULT', max_connections: n, max_pending_requests: n, max_requests: n }] };
}

function originalDstCluster(input: BootstrapInput, name: string): JsonObject {
  return {
    name,
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: '10s',
    circuit_breakers: connectionLimits(input),
    // The kernel's keepalive timing (net.ipv4.tcp_keepalive_*), as the app's own would use.
    upstream_connection_options: { tcp_keepalive: {} },
  };
}

/**
 * SO_KEEPALIVE on a listening socket, which the connections it accepts inherit (Linux), so
 * a client that vanished without a FIN or RST is found out as it would be without a proxy.
 */
function keepAlive(): JsonObject[] {
  return [{ description: 'SO_KEEPALIVE', level: 1, name: 9, int_value: 1, state: 'STATE_PREBIND' }];
}

/** To a meshed destination: mTLS to its proxy's mTLS port, whatever port the app dialled. */
function outboundMtlsCluster(input: BootstrapInput): JsonObject {
  return {
    ...originalDstCluster(input, OUTBOUND_MTLS_CLUSTER),
    original_dst_lb_config: { upstream_port_override: PROXY_PORTS.mtls },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: meshTlsContext(input),
      },
    },
  };
}

/**
 * splice's discovery, over mTLS with the pod's own identity (the server answers only
 * meshed proxies), and only to a replica that proves an identity of splice's namespace.
 */
function discoveryCluster(input: BootstrapInput, discovery: DiscoveryServer): JsonObject {
  const isIp = /^[0-9.]+$|:/.test(discovery.host);
  const tls = meshTlsContext(input, { prefix: `spiffe://${input.trustDomain}/ns/${discovery.namespace}/sa/` });
  delete tls.alpn_protocols;
  return {
    name: DISCOVERY_CLUSTER,
    // STRICT_DNS re-resolves the name (every 5 s by default), so a new Service address is
    // picked up; the pod's resolver and search path apply.
    type: isIp ? 'STATIC' : 'STRICT_DNS',
    ...(isIp ? {} : { dns_lookup_family: 'V4_PREFERRED' }),
    connect_timeout: '5s',
    load_assignment: {
      cluster_name: DISCOVERY_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: address(discovery.host, discovery.port) } }] }],
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        ...(isIp ? {} : { sni: discovery.host }),
        common_tls_context: tls,
      },
    },
  };
}

/** Listeners and clusters from discovery, asked for by REST polling (docs: "xDS REST and gRPC protocol"). */
function dynamicResources(): JsonObject {
  const source = {
    resource_api_version: 'V3',
    initial_fetch_timeout: `${DISCOVERY_INITIAL_FETCH_SECONDS}s`,
    api_config_source: {
      api_type: 'REST',
      transport_api_version: 'V3',
      cluster_names: [DISCOVERY_CLUSTER],
      refresh_delay: `${DISCOVERY_REFRESH_SECONDS}s`,
      request_timeout: '5s',
    },
  };
  return { cds_config: source, lds_config: source };
}

/**
 * A reset stays a reset through the proxy, in both directions and across the mTLS hop, as
 * it would without a proxy (a truncated answer must not look complete). Envoy 1.40 does
 * this behind these runtime guards (envoyproxy/envoy#44148, #46519, and the TLS transport's
 * reset detection); named here so the behaviour does not depend on their defaults.
 */
const RESETS_STAY_RESETS = Object.freeze({
  'envoy.reloadable_features.propagate_downstream_rst_to_upstream': true,
  'envoy.reloadable_features.ssl_socket_report_connection_reset': true,
  'envoy.reloadable_features.propagate_upstream_rst_through_tunneled_tcp_proxy': true,
});

/** The Envoy v3 bootstrap for one workload identity. */
export function renderBootstrap(input: BootstrapInput): JsonObject {
  const service = `${input.serviceAccount}.${input.namespace}`;
  return {
    node: {
      // The container passes --service-node (pod name), which overrides this id; the
      // default keeps a bootstrap usable on its own, e.g. in `envoy --mode validate`.
      id: service,
      cluster: service,
      metadata: {
        namespace: input.namespace,
        service_account: input.serviceAccount,
        spiffe_id: spiffeId(input),
        // The drain period itself is Envoy's --drain-time-s flag (the bootstrap has no field
        // for it); recorded here so /server_info shows what the injector asked for.
        drain_seconds: input.drainSeconds,
      },
    },
    admin: {
      // Loopback only: the admin can stop Envoy and dump its config; other pods never reach it.
      address: address('127.0.0.1', PROXY_PORTS.admin),
    },
    stats_config: {
      // The default tag extractors turn cluster names, listener and tcp/http prefixes and
      // response classes into Prometheus labels; the stat prefixes above are chosen to read
      // well as those labels (listener_address="inbound", tcp_prefix="inbound_mtls").
      use_all_default_tags: true,
    },
    layered_runtime: {
      layers: [{ name: 'splice', static_layer: RESETS_STAY_RESETS }],
    },
    ...(input.discovery ? { dynamic_resources: dynamicResources() } : {}),
    static_resources: {
      listeners: [
        outboundListener(input),
        inboundListener(input),
        mtlsListener(input),
        healthListener(input, bindToPod(input, PROXY_PORTS.readiness), ADMIN_CLUSTER),
        httpListener('prometheus', bindToPod(input, PROXY_PORTS.prometheus), [adminRoute('/stats/prometheus', ADMIN_CLUSTER)]),
      ],
      clusters: [
        originalDstCluster(input, OUTBOUND_CLUSTER),
        ...(input.meshCidrs.length > 0 ? [outboundMtlsCluster(input)] : []),
        originalDstCluster(input, INBOUND_CLUSTER),
        {
          name: ADMIN_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: ADMIN_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: address('127.0.0.1', PROXY_PORTS.admin) } }] }],
          },
        },
        // No endpoints: a tcp_proxy to it closes the connection at once.
        { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: '1s' },
        ...(input.discovery ? [discoveryCluster(input, input.discovery)] : []),
        ...appHealthClusters(input),
      ],
    },
  };
}
