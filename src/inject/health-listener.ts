// The proxy's health listener (port 15021): the proxy's own readiness at /ready, and the
// app's probes the injector pointed here (probes.ts) at /app-health/<container>/<kind>.
// The kubelet reaches it without mTLS whatever the inbound policy, as the redirect leaves
// the proxy's ports alone; only a GET of one of the exact paths below answers, and only
// that request goes on to the app.
//
// An HTTP probe is a route to the app's port on the pod's own address (where the kubelet
// would have connected, so an app bound to the pod IP alone is still reached), with the
// probe's path and the app's answer passed through. A TCP or gRPC probe cannot travel as
// HTTP, so the proxy checks the app itself, every second, with an Envoy active health
// check, and the health_check filter answers the kubelet from its result (200 while the
// app passed, 503 once it failed).

import type { AppProbe } from './probes.js';
import type { JsonObject } from './types.js';

export interface HealthInput {
  /** The pod's address, which the app's probes are sent to. */
  podIp: string;
  appProbes?: readonly AppProbe[];
}

/** How often, in seconds, the proxy checks an app port a TCP or gRPC probe names. */
export const APP_CHECK_INTERVAL_SECONDS = 1;

const socketAddress = (ip: string, port: number): JsonObject => ({ socket_address: { address: ip, port_value: port } });
const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** The cluster an HTTP(S) probe is forwarded over: one per port and scheme, shared by probes of it. */
function forwardCluster(p: AppProbe): string {
  return `app_health_${p.check}_${p.port}`;
}

/** The cluster a TCP or gRPC probe's active check runs on: one per probe, as each has its own answer. */
function checkedCluster(p: AppProbe): string {
  return `app_health${p.path.slice('/app-health'.length).replaceAll('/', '_')}`;
}

const forwarded = (p: AppProbe): boolean => p.check === 'http' || p.check === 'https';

function staticCluster(name: string, ip: string, port: number, connectTimeoutSeconds: number): JsonObject {
  return {
    name,
    type: 'STATIC',
    connect_timeout: `${connectTimeoutSeconds}s`,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(ip, port) } }] }] },
  };
}

/**
 * The clusters the app's rewritten probes use.
 *
 * @param input the pod's address and its rewritten probes
 * @returns Envoy v3 clusters: one per forwarded port and scheme, one per checked probe
 */
export function appHealthClusters(input: HealthInput): JsonObject[] {
  const out: JsonObject[] = [];
  const seen = new Set<string>();
  for (const p of input.appProbes ?? []) {
    if (forwarded(p)) {
      const name = forwardCluster(p);
      if (seen.has(name)) continue;
      seen.add(name);
      // As long as the longest probe of the port waits: the kubelet's timeout bounds the rest.
      const connectTimeout = Math.max(...(input.appProbes ?? []).filter((q) => forwardCluster(q) === name).map((q) => q.timeoutSeconds));
      out.push({
        ...staticCluster(name, input.podIp, p.port, connectTimeout),
        // The kubelet does not verify an HTTPS probe's certificate, and neither does this.
        ...(p.check === 'https'
          ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext' } } }
          : {}),
      });
      continue;
    }
    const check: JsonObject =
      p.check === 'tcp'
        ? // Nothing sent, nothing expected: a connect that succeeds is a pass, as for the kubelet.
          { tcp_health_check: {} }
        : { grpc_health_check: { ...(p.service !== undefined ? { service_name: p.service } : {}), authority: hostPort(input.podIp, p.port) } };
    out.push({
      ...staticCluster(checkedCluster(p), input.podIp, p.port, p.timeoutSeconds),
      ...(p.check === 'grpc'
        ? {
            typed_extension_protocol_options: {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
          }
        : {}),
      health_checks: [
        {
          timeout: `${p.timeoutSeconds}s`,
          interval: `${APP_CHECK_INTERVAL_SECONDS}s`,
          // No request ever goes over this cluster, and Envoy checks an idle cluster only
          // once a minute unless told otherwise.
          no_traffic_interval: `${APP_CHECK_INTERVAL_SECONDS}s`,
          // One failed check fails the probe, one passed check passes it: the kubelet's own
          // failureThreshold and successThreshold then count as they would against the app.
          unhealthy_threshold: 1,
          healthy_threshold: 1,
          ...check,
        },
      ],
    });
  }
  return out;
}

/**
 * The one route that forwards exactly `GET <path>` to the loopback-only admin: anything
 * else of the admin (/quitquitquit, /config_dump with its secrets' paths, ...) gets a 404.
 */
export function adminRoute(path: string, adminCluster: string): JsonObject {
  return { match: { path, headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: adminCluster } };
}

/** The routes of the health listener, `/ready` first. */
function routes(input: HealthInput, adminCluster: string): JsonObject[] {
  const out: JsonObject[] = [adminRoute('/ready', adminCluster)];
  for (const p of input.appProbes ?? []) {
    if (!forwarded(p)) continue;
    out.push({
      // A GET of exactly this path, no query of the caller's added: the request the kubelet
      // makes, and no other, gets through to the app.
      match: {
        path: p.path,
        headers: [
          { name: ':method', string_match: { exact: 'GET' } },
          { name: ':path', string_match: { exact: p.path } },
        ],
      },
      route: {
        cluster: forwardCluster(p),
        // The whole path is replaced, query included: the app sees the request the kubelet would have sent.
        prefix_rewrite: p.target ?? '/',
        // The kubelet's timeoutSeconds bounds the request; the proxy adds none of its own.
        timeout: '0s',
        // As the kubelet addresses the app: the pod's address and the app's port, unless the probe sends its own Host.
        ...(p.ownHost ? {} : { host_rewrite_literal: hostPort(input.podIp, p.port) }),
      },
    });
  }
  return out;
}

/**
 * The health listener, bound where `bind` says (the pod's address and loopback).
 *
 * @param input the pod's address and its rewritten probes
 * @param bind the listener's `address` and `additional_addresses`
 * @param adminCluster the cluster of the loopback-only admin, which answers /ready
 * @returns an Envoy v3 listener named `readiness`, stat prefix `readiness`
 */
export function healthListener(input: HealthInput, bind: JsonObject, adminCluster: string): JsonObject {
  const answered = (input.appProbes ?? []).filter((p) => !forwarded(p));
  const healthChecks = answered.map((p) => ({
    name: 'envoy.filters.http.health_check',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
      // Answered here, from the cluster's last check, never passed on.
      pass_through_mode: false,
      headers: [{ name: ':path', string_match: { exact: p.path } }],
      cluster_min_healthy_percentages: { [checkedCluster(p)]: { value: 100 } },
    },
  }));
  return httpListener('readiness', bind, routes(input, adminCluster), healthChecks);
}

/**
 * A plain HTTP listener: `routes` on one virtual host for any Host, `filters` before the
 * router (which passes on no x-envoy-* headers of its own).
 *
 * @param bind the listener's `address` and `additional_addresses`
 * @returns an Envoy v3 listener whose name is also its stat prefix and its route config's name
 */
export function httpListener(name: string, bind: JsonObject, routes: JsonObject[], filters: JsonObject[] = []): JsonObject {
  return {
    name,
    ...bind,
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
              // The app sees the request as it came, without an x-request-id of Envoy's.
              generate_request_id: false,
              route_config: { name, virtual_hosts: [{ name, domains: ['*'], routes }] },
              http_filters: [
                ...filters,
                {
                  name: 'envoy.filters.http.router',
                  // The app sees the kubelet's request, not Envoy's x-envoy-* additions.
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', suppress_envoy_headers: true },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}
