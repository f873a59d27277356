// The Envoy bootstrap the splice-proxy container starts with, built as plain objects and
// handed to Envoy as JSON (`--config-yaml` accepts JSON), so no template can emit a
// half-valid document. Pure: the same input always yields the same object.
//
// Traffic shape: the pod's redirect rules send inbound TCP to 15006 and outbound TCP to
// 15001; both listeners recover the address the connection was really meant for
// (original_dst) and forward to it. Outbound, a destination inside the mesh's pod CIDRs
// gets mTLS with the pod's identity; any other leaves untouched. Inbound, mTLS offered
// with the mesh's ALPN is terminated (client certificate required), and everything else
// is passed to the app as it came (permissive mode). The admin interface stays on loopback; only
// /ready and /stats/prometheus are reachable from outside, each through a one-route proxy.

import { PROXY_PORTS } from '../iptables/options.js';
import type { JsonObject } from './types.js';

export interface BootstrapInput {
  namespace: string;
  serviceAccount: string;
  trustDomain: string;
  /** Where the workload identity (tls.crt, tls.key, ca.crt) is mounted. */
  identityDir: string;
  drainSeconds: number;
  /** Destinations that are meshed pods: outbound connections to them originate mTLS. */
  meshCidrs: readonly string[];
}

/**
 * The ALPN protocol a mesh proxy offers when it originates mTLS. Inbound, only TLS that
 * offers it is the mesh's; TLS without it is the app's own (a non-mesh client speaking
 * HTTPS to the app) and passes through to the app unterminated.
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

export function spiffeId(input: Pick<BootstrapInput, 'trustDomain' | 'namespace' | 'serviceAccount'>): string {
  return `spiffe://${input.trustDomain}/ns/${input.namespace}/sa/${input.serviceAccount}`;
}

function inDir(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

function address(ip: string, port: number): JsonObject {
  return { socket_address: { address: ip, port_value: port } };
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
export function renderSdsFiles(input: BootstrapInput): Record<string, JsonObject> {
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
function sdsSecret(input: BootstrapInput, name: string, file: string): JsonObject {
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

function accessLog(direction: 'inbound' | 'outbound'): JsonObject[] {
  const fields: JsonObject = {
    start_time: '%START_TIME%',
    direction,
    downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
    // After the original_dst listener filter this is where the client meant to connect.
    original_destination: '%DOWNSTREAM_LOCAL_ADDRESS%',
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
    fields.peer_identity = '%DOWNSTREAM_PEER_URI_SAN%';
    fields.tls_version = '%DOWNSTREAM_TLS_VERSION%';
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

function tcpProxy(statPrefix: string, cluster: string, log: JsonObject[]): JsonObject {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
      stat_prefix: statPrefix,
      cluster,
      ...(log.length ? { access_log: log } : {}),
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

/** An HTTP listener that forwards exactly `GET <path>` to the loopback-only admin. */
function adminPathListener(name: string, port: number, path: string): JsonObject {
  return {
    name,
    address: address('0.0.0.0', port),
    stat_prefix: name,
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              codec_type: 'AUTO',
              route_config: {
                name,
                virtual_hosts: [
                  {
                    name,
                    domains: ['*'],
                    routes: [
                      {
                        // An exact path match: anything else of the admin (/quitquitquit,
                        // /config_dump with its secrets' paths, ...) gets a 404 here.
                        match: { path, headers: [{ name: ':method', string_match: { exact: 'GET' } }] },
                        route: { cluster: ADMIN_CLUSTER },
                      },
                    ],
                  },
                ],
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

/** A CIDR as Envoy's CidrRange (the config parser has already checked it). */
function cidrRange(cidr: string): JsonObject {
  const slash = cidr.lastIndexOf('/');
  return { address_prefix: cidr.slice(0, slash), prefix_len: Number(cidr.slice(slash + 1)) };
}

/**
 * What both ends of the mesh's mTLS present and accept: the pod's own certificate, and
 * peers whose chain ends at the mesh's trust bundle and whose SPIFFE ID is of this trust
 * domain. Which identity a given destination must have would take service discovery;
 * until then any identity of the mesh is accepted (the log records which one it was).
 */
function meshTlsContext(input: BootstrapInput): JsonObject {
  return {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
    alpn_protocols: [MESH_ALPN],
    tls_certificate_sds_secret_configs: [sdsSecret(input, CERTIFICATE_SECRET, SDS_FILES.certificate)],
    combined_validation_context: {
      // The CA bundle comes from the identity volume; which identities it may vouch for
      // is policy, kept here: only SPIFFE IDs of this mesh's trust domain.
      default_validation_context: {
        match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: `spiffe://${input.trustDomain}/` } }],
      },
      validation_context_sds_secret_config: sdsSecret(input, TRUST_BUNDLE_SECRET, SDS_FILES.trustBundle),
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
      filters: [tcpProxy('outbound_mtls', OUTBOUND_MTLS_CLUSTER, accessLog('outbound'))],
    });
  }
  chains.push({
    // Outside the mesh: the app's bytes leave exactly as they would without the proxy.
    name: 'outbound-passthrough',
    filters: [tcpProxy('outbound', OUTBOUND_CLUSTER, accessLog('outbound'))],
  });
  return {
    name: 'outbound',
    address: address('0.0.0.0', PROXY_PORTS.outbound),
    stat_prefix: 'outbound',
    listener_filters: [originalDst()],
    filter_chains: chains,
  };
}

function inboundListener(input: BootstrapInput): JsonObject {
  const downstreamTls: JsonObject = {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    require_client_certificate: true,
    common_tls_context: meshTlsContext(input),
  };
  return {
    name: 'inbound',
    address: address('0.0.0.0', PROXY_PORTS.inbound),
    stat_prefix: 'inbound',
    listener_filters: [
      originalDst(),
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
      },
    ],
    // Server-first protocols (MySQL, SMTP, ...) send nothing until the server greets, so
    // the TLS inspector would wait for ever: after 1 s the connection goes on as plaintext
    // (the inspector found no transport protocol, which the plaintext chain accepts).
    listener_filters_timeout: '1s',
    continue_on_listener_filters_timeout: true,
    filter_chains: [
      loopGuard(PROXY_PORTS.inbound),
      {
        // TLS offering the mesh's ALPN is a mesh peer's.
        name: 'inbound-mtls',
        filter_chain_match: { transport_protocol: 'tls', application_protocols: [MESH_ALPN] },
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: downstreamTls },
        filters: [tcpProxy('inbound_mtls', INBOUND_CLUSTER, accessLog('inbound'))],
      },
      {
        // Other TLS is the app's own (a client outside the mesh speaking HTTPS to it): passed
        // on unterminated. It needs a chain of its own: Envoy picks the most specific
        // transport_protocol first and never falls back from "tls" to a chain without one.
        name: 'inbound-tls-passthrough',
        filter_chain_match: { transport_protocol: 'tls' },
        filters: [tcpProxy('inbound_tls_passthrough', INBOUND_CLUSTER, accessLog('inbound'))],
      },
      {
        // Permissive mode: clients outside the mesh still reach the app in plaintext.
        name: 'inbound-plaintext',
        filter_chain_match: {},
        filters: [tcpProxy('inbound_plaintext', INBOUND_CLUSTER, accessLog('inbound'))],
      },
    ],
  };
}

function originalDstCluster(name: string): JsonObject {
  return {
    name,
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: '10s',
  };
}

/** Like the passthrough cluster, but the connection to the original destination is mTLS. */
function outboundMtlsCluster(input: BootstrapInput): JsonObject {
  return {
    ...originalDstCluster(OUTBOUND_MTLS_CLUSTER),
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: meshTlsContext(input),
      },
    },
  };
}

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
    static_resources: {
      listeners: [
        outboundListener(input),
        inboundListener(input),
        adminPathListener('readiness', PROXY_PORTS.readiness, '/ready'),
        adminPathListener('prometheus', PROXY_PORTS.prometheus, '/stats/prometheus'),
      ],
      clusters: [
        originalDstCluster(OUTBOUND_CLUSTER),
        ...(input.meshCidrs.length > 0 ? [outboundMtlsCluster(input)] : []),
        originalDstCluster(INBOUND_CLUSTER),
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
      ],
    },
  };
}
