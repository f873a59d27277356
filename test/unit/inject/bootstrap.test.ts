import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MESH_ALPN, renderBootstrap, renderSdsFiles, SDS_FILES, type BootstrapInput } from '../../../src/inject/bootstrap.js';
import { PROXY_PORTS } from '../../../src/iptables/options.js';
import type { JsonObject, JsonValue } from '../../../src/inject/types.js';

const input: BootstrapInput = {
  podIp: '10.244.0.7',
  namespace: 'demo',
  serviceAccount: 'web',
  trustDomain: 'cluster.local',
  identityDir: '/var/run/splice/identity',
  drainSeconds: 5,
  meshCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
  maxConnections: 100_000,
  ipv6: true,
  inboundPolicy: 'permissive',
};

function obj(v: JsonValue | undefined, what: string): JsonObject {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is not an object`);
  return v;
}
function arr(v: JsonValue | undefined, what: string): JsonValue[] {
  assert.ok(Array.isArray(v), `${what} is not an array`);
  return v;
}
function objs(v: JsonValue | undefined, what: string): JsonObject[] {
  return arr(v, what).map((x, i) => obj(x, `${what}[${i}]`));
}
/** Follows a path of keys and indexes, failing with the path that broke. */
function at(v: JsonValue | undefined, ...path: Array<string | number>): JsonValue {
  let cur = v;
  const seen: string[] = [];
  for (const key of path) {
    seen.push(String(key));
    cur = typeof key === 'number' ? arr(cur, seen.join('.'))[key] : obj(cur, seen.join('.'))[key];
    assert.notEqual(cur, undefined, `missing ${seen.join('.')}`);
  }
  return cur as JsonValue;
}

const bootstrap = renderBootstrap(input);
const listeners = objs(at(bootstrap, 'static_resources', 'listeners'), 'listeners');
const clusters = objs(at(bootstrap, 'static_resources', 'clusters'), 'clusters');

function listenerOn(port: number): JsonObject {
  const found = listeners.filter((l) => at(l, 'address', 'socket_address', 'port_value') === port);
  assert.equal(found.length, 1, `one listener on ${port}`);
  return found[0] as JsonObject;
}
function cluster(name: JsonValue): JsonObject {
  const found = clusters.find((c) => c.name === name);
  assert.ok(found, `cluster ${String(name)} exists`);
  return found;
}
function chains(l: JsonObject): JsonObject[] {
  return objs(at(l, 'filter_chains'), 'filter_chains');
}
/** The chain's tcp_proxy, its last filter; only set_filter_state may come before it. */
function tcpProxyOf(chain: JsonObject): JsonObject {
  const filters = objs(at(chain, 'filters'), 'filters');
  const last = filters[filters.length - 1];
  assert.equal(at(last, 'name'), 'envoy.filters.network.tcp_proxy');
  for (const f of filters.slice(0, -1)) assert.equal(f.name, 'envoy.filters.network.set_filter_state');
  return obj(at(last, 'typed_config'), 'typed_config');
}
/** What the chain's set_filter_state sets: key → [format, shared with upstream]. */
function filterState(chain: JsonObject): Record<string, [JsonValue, JsonValue]> {
  const out: Record<string, [JsonValue, JsonValue]> = {};
  for (const f of objs(at(chain, 'filters'), 'filters').filter((x) => x.name === 'envoy.filters.network.set_filter_state')) {
    for (const v of objs(at(f, 'typed_config', 'on_new_connection'), 'on_new_connection')) {
      out[String(v.object_key)] = [at(v, 'format_string', 'text_format_source', 'inline_string'), v.shared_with_upstream ?? null];
    }
  }
  return out;
}
function chainNamed(l: JsonObject, name: string): JsonObject {
  const found = chains(l).find((c) => c.name === name);
  assert.ok(found, `chain ${name}`);
  return found;
}
function listenerFilterNames(l: JsonObject): JsonValue[] {
  return objs(at(l, 'listener_filters'), 'listener_filters').map((f) => at(f, 'name'));
}
function endpointsOf(c: JsonObject): JsonObject[] {
  if (c.load_assignment === undefined) return [];
  return objs(at(c, 'load_assignment', 'endpoints'), 'endpoints').flatMap((e) =>
    objs(at(e, 'lb_endpoints'), 'lb_endpoints').map((lb) => obj(at(lb, 'endpoint', 'address', 'socket_address'), 'address')),
  );
}

describe('renderBootstrap', () => {
  test('admin listens on 127.0.0.1:15000 only, and no listener shares its port', () => {
    assert.deepEqual(at(bootstrap, 'admin', 'address', 'socket_address'), { address: '127.0.0.1', port_value: PROXY_PORTS.admin });
    for (const l of listeners) assert.notEqual(at(l, 'address', 'socket_address', 'port_value'), PROXY_PORTS.admin);
  });

  test('listens on the capture and mTLS ports on all IPv4 and IPv6 addresses, on readiness and metrics at the pod\'s own address and loopback', () => {
    const any = [PROXY_PORTS.outbound, PROXY_PORTS.inbound, PROXY_PORTS.mtls];
    const own = [PROXY_PORTS.readiness, PROXY_PORTS.prometheus];
    const sa = (address: string, port: number) => ({ address: { socket_address: { address, port_value: port } } });
    assert.deepEqual(listeners.map((l) => [at(l, 'address', 'socket_address'), l.additional_addresses]), [
      ...any.map((port) => [{ address: '0.0.0.0', port_value: port }, [sa('::', port)]]),
      // Another pod's 15021 or 15090 is never this proxy's: bound to any address, these
      // would take the app's connections to them (the outbound listener hands off by port).
      ...own.map((port) => [{ address: '10.244.0.7', port_value: port }, [sa('127.0.0.1', port), sa('::1', port)]]),
    ]);
  });

  test('with ipv6 off, IPv4 only: no listener binds ::, and the mTLS port has no IPv6 chain', () => {
    const v4 = renderBootstrap({ ...input, ipv6: false });
    const ls = objs(at(v4, 'static_resources', 'listeners'), 'listeners');
    assert.equal(ls.length, listeners.length);
    for (const l of ls) {
      const extra = JSON.stringify(l.additional_addresses ?? []);
      assert.equal(extra.includes('::'), false, String(l.name));
    }
    assert.equal(JSON.stringify(v4).includes('"::"'), false);
    const mtls = ls.find((l) => l.name === 'inbound-mtls');
    assert.ok(mtls);
    assert.deepEqual(chains(mtls).map((c) => c.name), ['inbound-mtls-proxy-port', 'inbound-mtls']);
  });

  test('every cluster to an original destination carries the configured connection limit, not Envoy\'s 1,024', () => {
    const limited = clusters.filter((c) => c.type === 'ORIGINAL_DST');
    assert.deepEqual(limited.map((c) => c.name), ['outbound-passthrough', 'outbound-mtls', 'inbound-passthrough']);
    for (const c of limited) {
      assert.deepEqual(at(c, 'circuit_breakers', 'thresholds'), [
        { priority: 'DEFAULT', max_connections: 100_000, max_pending_requests: 100_000, max_requests: 100_000 },
      ], String(c.name));
    }
    const other = renderBootstrap({ ...input, maxConnections: 2_500 });
    const first = objs(at(other, 'static_resources', 'clusters'), 'clusters')[0];
    assert.equal(at(first, 'circuit_breakers', 'thresholds', 0, 'max_connections'), 2_500);
  });

  for (const [port, path] of [
    [PROXY_PORTS.readiness, '/ready'],
    [PROXY_PORTS.prometheus, '/stats/prometheus'],
  ] as const) {
    test(`:${port} forwards only GET ${path}, to the admin on loopback`, () => {
      const hcm = obj(at(chains(listenerOn(port))[0], 'filters', 0, 'typed_config'), 'hcm');
      const hosts = objs(at(hcm, 'route_config', 'virtual_hosts'), 'virtual_hosts');
      assert.equal(hosts.length, 1);
      const routes = objs(at(hosts[0], 'routes'), 'routes');
      // A single exact-path route: no prefix or regex that would expose more of the admin.
      assert.equal(routes.length, 1);
      const match = obj(at(routes[0], 'match'), 'match');
      assert.deepEqual(Object.keys(match).sort(), ['headers', 'path']);
      assert.equal(match.path, path);
      assert.deepEqual(match.headers, [{ name: ':method', string_match: { exact: 'GET' } }]);
      const target = cluster(at(routes[0], 'route', 'cluster'));
      assert.deepEqual(endpointsOf(target), [{ address: '127.0.0.1', port_value: PROXY_PORTS.admin }]);
    });
  }

  test('outbound 15001 recovers the original destination; outside the mesh CIDRs it passes through untouched', () => {
    const l = listenerOn(PROXY_PORTS.outbound);
    assert.deepEqual(listenerFilterNames(l), ['envoy.filters.listener.original_dst']);
    const passthrough = chainNamed(l, 'outbound-passthrough');
    assert.equal(passthrough.filter_chain_match, undefined, 'the default chain: whatever no other chain matches');
    const c = cluster(at(tcpProxyOf(passthrough), 'cluster'));
    assert.equal(c.type, 'ORIGINAL_DST');
    assert.equal(c.transport_socket, undefined, 'no TLS of its own: the app\'s bytes leave as sent');
  });

  test('outbound to the mesh CIDRs originates mTLS with the pod identity and the mesh ALPN', () => {
    const chain = chainNamed(listenerOn(PROXY_PORTS.outbound), 'outbound-mtls');
    assert.deepEqual(chain.filter_chain_match, {
      prefix_ranges: [
        { address_prefix: '10.244.0.0', prefix_len: 16 },
        { address_prefix: 'fd00:10:244::', prefix_len: 56 },
      ],
    });
    // The app's port rides in the server name; the connection goes to the peer's mTLS port.
    assert.deepEqual(filterState(chain), { 'envoy.network.upstream_server_name': ['%DOWNSTREAM_LOCAL_PORT%', 'ONCE'] });
    const c = cluster(at(tcpProxyOf(chain), 'cluster'));
    assert.equal(c.type, 'ORIGINAL_DST');
    assert.deepEqual(c.original_dst_lb_config, { upstream_port_override: PROXY_PORTS.mtls });
    const tls = obj(at(c, 'transport_socket', 'typed_config'), 'upstream tls');
    assert.match(String(tls['@type']), /UpstreamTlsContext$/);
    const common = obj(at(tls, 'common_tls_context'), 'common_tls_context');
    assert.deepEqual(common.alpn_protocols, [MESH_ALPN]);
    assert.equal(at(common, 'tls_certificate_sds_secret_configs', 0, 'name'), 'splice-identity');
    assert.deepEqual(at(common, 'combined_validation_context', 'default_validation_context', 'match_typed_subject_alt_names'), [
      { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } },
    ]);
  });

  test('without mesh CIDRs no connection is given mTLS: no mTLS chain, no mTLS cluster', () => {
    const b = renderBootstrap({ ...input, meshCidrs: [] });
    const outbound = objs(at(b, 'static_resources', 'listeners'), 'listeners').find((x) => x.name === 'outbound');
    assert.ok(outbound);
    assert.deepEqual(chains(outbound).map((c) => c.name), ['loop-guard-15001', 'outbound-passthrough']);
    const names = objs(at(b, 'static_resources', 'clusters'), 'clusters').map((c) => c.name);
    assert.equal(names.includes('outbound-mtls'), false);
  });

  test('inbound 15006 reads nothing before forwarding: original_dst only, one passthrough chain', () => {
    const l = listenerOn(PROXY_PORTS.inbound);
    // No inspector: a server that speaks first, or a request and FIN that arrive together,
    // reach the app as they would without a proxy.
    assert.deepEqual(listenerFilterNames(l), ['envoy.filters.listener.original_dst']);
    assert.equal(l.listener_filters_timeout, undefined);
    assert.deepEqual(chains(l).map((c) => c.name), ['loop-guard-15006', 'inbound-passthrough']);
    const plain = chainNamed(l, 'inbound-passthrough');
    assert.equal(plain.transport_socket, undefined);
    assert.equal(cluster(at(tcpProxyOf(plain), 'cluster')).type, 'ORIGINAL_DST');
  });

  test('mTLS 15008 terminates only the mesh ALPN, requires a client certificate of this trust domain, and forwards to its own address', () => {
    const l = listenerOn(PROXY_PORTS.mtls);
    assert.deepEqual(listenerFilterNames(l), ['envoy.filters.listener.tls_inspector']);
    const byName = Object.fromEntries(chains(l).map((c) => [String(c.name), c]));
    assert.deepEqual(Object.keys(byName), ['inbound-mtls-proxy-port', 'inbound-mtls', 'inbound-mtls-ipv6'], 'no default chain: anything else is closed');
    // A server name naming one of the proxy's own ports: closed before any handshake.
    const refused = byName['inbound-mtls-proxy-port'] as JsonObject;
    assert.deepEqual(refused.filter_chain_match, {
      prefix_ranges: [{ address_prefix: '0.0.0.0', prefix_len: 0 }, { address_prefix: '::', prefix_len: 0 }],
      // Not 15021 or 15090: a meshed Prometheus or prober reaches those through 15008.
      server_names: ['15000', '15001', '15006', '15008'],
      transport_protocol: 'tls',
      application_protocols: [MESH_ALPN],
    });
    assert.equal(refused.transport_socket, undefined);
    assert.equal(cluster(at(tcpProxyOf(refused), 'cluster')).type, 'STATIC', 'the blackhole');
    assert.deepEqual(endpointsOf(cluster(at(tcpProxyOf(refused), 'cluster'))), []);
    for (const [name, family, destination] of [
      ['inbound-mtls', '0.0.0.0', '%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%:%REQUESTED_SERVER_NAME%'],
      ['inbound-mtls-ipv6', '::', '[%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%]:%REQUESTED_SERVER_NAME%'],
    ] as const) {
      const chain = byName[name] as JsonObject;
      assert.equal(chain.transport_socket_connect_timeout, '10s', 'a stalled handshake is closed');
      assert.deepEqual(chain.filter_chain_match, {
        prefix_ranges: [{ address_prefix: family, prefix_len: 0 }], transport_protocol: 'tls', application_protocols: [MESH_ALPN],
      });
      // Where it arrived, with the port the peer named: never another host.
      assert.deepEqual(filterState(chain), { 'envoy.network.transport_socket.original_dst_address': [destination, null] });
      const proxy = tcpProxyOf(chain);
      assert.equal(cluster(at(proxy, 'cluster')).name, 'inbound-passthrough');
      // Nothing is dialled for a client that has not proved a mesh identity.
      assert.equal(proxy.upstream_connect_mode, 'ON_DOWNSTREAM_TLS_HANDSHAKE');
    }
  });

  test('certificates come from file-based SDS under identityDir, watched by directory', () => {
    const common = obj(
      at(chainNamed(listenerOn(PROXY_PORTS.mtls), 'inbound-mtls'), 'transport_socket', 'typed_config', 'common_tls_context'),
      'common_tls_context',
    );
    const sdsConfigs = [
      obj(at(common, 'tls_certificate_sds_secret_configs', 0), 'certificate'),
      obj(at(common, 'combined_validation_context', 'validation_context_sds_secret_config'), 'trust bundle'),
    ];
    const files = renderSdsFiles(input);
    assert.deepEqual(Object.keys(files).sort(), Object.values(SDS_FILES).sort());
    for (const sds of sdsConfigs) {
      const source = obj(at(sds, 'sds_config', 'path_config_source'), 'path_config_source');
      assert.deepEqual(source.watched_directory, { path: input.identityDir });
      const path = String(source.path);
      assert.ok(path.startsWith(`${input.identityDir}/`), path);
      // Envoy rejects an SDS file whose resource is not named as the bootstrap asks.
      const file = files[path.slice(input.identityDir.length + 1)];
      assert.ok(file, `an SDS file is rendered for ${path}`);
      assert.equal(at(file, 'resources', 0, 'name'), sds.name);
    }
    const cert = obj(at(files[SDS_FILES.certificate], 'resources', 0, 'tls_certificate'), 'tls_certificate');
    assert.deepEqual(cert, {
      certificate_chain: { filename: '/var/run/splice/identity/tls.crt' },
      private_key: { filename: '/var/run/splice/identity/tls.key' },
      watched_directory: { path: '/var/run/splice/identity' },
    });
    assert.deepEqual(at(files[SDS_FILES.trustBundle], 'resources', 0, 'validation_context'), {
      trusted_ca: { filename: '/var/run/splice/identity/ca.crt' },
      watched_directory: { path: '/var/run/splice/identity' },
    });
  });

  test('a connection dialled straight at a capture port is closed instead of looping back into Envoy', () => {
    for (const port of [PROXY_PORTS.outbound, PROXY_PORTS.inbound]) {
      const guard = chains(listenerOn(port)).find(
        (c) => c.filter_chain_match !== undefined && obj(c.filter_chain_match, 'match').destination_port === port,
      );
      assert.ok(guard, `guard on ${port}`);
      const target = cluster(at(tcpProxyOf(guard), 'cluster'));
      assert.equal(target.type, 'STATIC');
      assert.deepEqual(endpointsOf(target), []);
    }
  });

  test('inbound and outbound log JSON to stdout with the original destination and the peer identity', () => {
    const logFormat = (chain: JsonObject): JsonObject => {
      const log = obj(at(tcpProxyOf(chain), 'access_log', 0), 'access_log');
      assert.equal(log.name, 'envoy.access_loggers.stdout');
      return obj(at(log, 'typed_config', 'log_format', 'json_format'), 'json_format');
    };
    const passthrough = logFormat(chainNamed(listenerOn(PROXY_PORTS.inbound), 'inbound-passthrough'));
    assert.equal(passthrough.original_destination, '%DOWNSTREAM_LOCAL_ADDRESS%');
    assert.equal(passthrough.peer_identity, '%DOWNSTREAM_PEER_URI_SAN%');
    for (const chain of chains(listenerOn(PROXY_PORTS.mtls)).filter((c) => c.name !== 'inbound-mtls-proxy-port')) {
      const f = logFormat(chain);
      // Not 15008, where the connection arrived: the app address it was forwarded to.
      assert.equal(f.original_destination, '%FILTER_STATE(envoy.network.transport_socket.original_dst_address:PLAIN)%');
      assert.equal(f.peer_identity, '%DOWNSTREAM_PEER_URI_SAN%');
      assert.equal(f.direction, 'inbound');
    }
    for (const name of ['outbound-passthrough', 'outbound-mtls']) {
      const out = logFormat(chainNamed(listenerOn(PROXY_PORTS.outbound), name));
      assert.equal(out.original_destination, '%DOWNSTREAM_LOCAL_ADDRESS%');
      assert.equal(out.direction, 'outbound');
      assert.equal(out.peer_identity, '%UPSTREAM_PEER_URI_SAN%');
    }
  });

  test('the proxy\'s sockets keep alive on both sides, as the app\'s own would have: accepted ones by the listener, dialled ones by the cluster', () => {
    for (const port of [PROXY_PORTS.inbound, PROXY_PORTS.mtls]) {
      assert.deepEqual(listenerOn(port).socket_options, [{ description: 'SO_KEEPALIVE', level: 1, name: 9, int_value: 1, state: 'STATE_PREBIND' }], String(port));
    }
    for (const c of clusters.filter((x) => x.type === 'ORIGINAL_DST')) assert.deepEqual(c.upstream_connection_options, { tcp_keepalive: {} }, String(c.name));
  });

  test('with discovery: listeners and clusters by REST polling from splice, over mTLS that splice\'s namespace must answer, and the outbound listener hands connections to them', () => {
    const withDiscovery = renderBootstrap({ ...input, discovery: { host: 'splice.splice-system.svc', port: 15012, namespace: 'splice-system' } });
    for (const kind of ['cds_config', 'lds_config']) {
      const source = obj(at(withDiscovery, 'dynamic_resources', kind), kind);
      assert.deepEqual(at(source, 'api_config_source'), {
        api_type: 'REST', transport_api_version: 'V3', cluster_names: ['splice-discovery'], refresh_delay: '3s', request_timeout: '5s',
      });
      // A proxy whose discovery does not answer still starts, after this.
      assert.equal(source.initial_fetch_timeout, '5s');
    }
    const ls = objs(at(withDiscovery, 'static_resources', 'listeners'), 'listeners');
    assert.equal(ls.find((l) => l.name === 'outbound')?.use_original_dst, true);
    const c = objs(at(withDiscovery, 'static_resources', 'clusters'), 'clusters').find((x) => x.name === 'splice-discovery');
    assert.ok(c);
    assert.equal(c.type, 'STRICT_DNS');
    assert.deepEqual(at(c, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address'), { address: 'splice.splice-system.svc', port_value: 15012 });
    const tls = obj(at(c, 'transport_socket', 'typed_config'), 'discovery tls');
    assert.equal(tls.sni, 'splice.splice-system.svc');
    assert.equal(at(tls, 'common_tls_context', 'tls_certificate_sds_secret_configs', 0, 'name'), 'splice-identity', 'the pod\'s own identity');
    assert.deepEqual(at(tls, 'common_tls_context', 'combined_validation_context', 'default_validation_context', 'match_typed_subject_alt_names'), [
      { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/splice-system/sa/' } },
    ]);
    // Without discovery: none of it.
    assert.equal(bootstrap.dynamic_resources, undefined);
    assert.equal(listenerOn(PROXY_PORTS.outbound).use_original_dst, undefined);
  });

  test('no tcp_proxy closes an idle connection: without a proxy nothing would', () => {
    let n = 0;
    for (const l of listeners) {
      for (const c of objs(l.filter_chains, 'filter_chains')) {
        const last = objs(c.filters, 'filters').at(-1);
        if (last?.name !== 'envoy.filters.network.tcp_proxy') continue;
        assert.equal(at(last, 'typed_config', 'idle_timeout'), '0s', `${String(l.name)}/${String(c.name)}`);
        n++;
      }
    }
    assert.ok(n >= 6, `every tcp_proxy checked (${n})`);
  });

  test('resets are carried as resets: the runtime guards are named, not left to their defaults', () => {
    const layer = obj(at(bootstrap, 'layered_runtime', 'layers', 0, 'static_layer'), 'static_layer');
    for (const guard of [
      'envoy.reloadable_features.propagate_downstream_rst_to_upstream',
      'envoy.reloadable_features.ssl_socket_report_connection_reset',
      'envoy.reloadable_features.propagate_upstream_rst_through_tunneled_tcp_proxy',
    ]) assert.equal(layer[guard], true, guard);
  });

  test('the node is named after the service account and namespace', () => {
    const node = obj(at(bootstrap, 'node'), 'node');
    assert.equal(node.id, 'web.demo');
    assert.equal(node.cluster, 'web.demo');
    assert.equal(at(node, 'metadata', 'spiffe_id'), 'spiffe://cluster.local/ns/demo/sa/web');
    const other = obj(at(renderBootstrap({ ...input, namespace: 'shop', serviceAccount: 'cart' }), 'node'), 'node');
    assert.equal(other.cluster, 'cart.shop');
  });

  test('output is deterministic plain JSON, and a trailing slash on identityDir changes nothing', () => {
    const text = JSON.stringify(bootstrap);
    assert.equal(JSON.stringify(renderBootstrap({ ...input })), text);
    assert.deepEqual(JSON.parse(text), bootstrap, 'no undefined, functions or class instances');
    assert.equal(JSON.stringify(renderBootstrap({ ...input, identityDir: `${input.identityDir}/` })).includes('identity//'), false);
  });
});
