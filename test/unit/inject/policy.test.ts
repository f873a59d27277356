// Inbound policy, allowed callers and probe rewriting, from the annotations a user writes
// to the Envoy configuration the proxy starts with. What Envoy then does with it is
// proven on real Envoy in test/dataplane/policy.test.ts and on a real node.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderBootstrap, type BootstrapInput } from '../../../src/inject/bootstrap.js';
import { formatBootstrapInput, parseBootstrapInput } from '../../../src/inject/bootstrap-input.js';
import { DEFAULT_CONFIG, parseConfig } from '../../../src/inject/config.js';
import { injectPod } from '../../../src/inject/engine.js';
import { BOOTSTRAP_FLAGS } from '../../../src/inject/init.js';
import { describeIdentity, parseAllowFrom } from '../../../src/inject/policy.js';
import { planProbes } from '../../../src/inject/probes.js';
import type { Container, JsonObject, Pod } from '../../../src/inject/types.js';
import { defaultRedirectOptions, ValueError } from '../../../src/iptables/options.js';
import { ENABLED, ns, pod, withApp, withSpec } from '../../support/pods.js';

const TD = 'cluster.local';

describe('splice.dev/allow-from', () => {
  test('each form becomes the SPIFFE ID it stands for, in order, without repeats', () => {
    assert.deepEqual(parseAllowFrom(' shop/frontend, billing/*,spiffe://cluster.local/ns/ops/sa/prober, shop/frontend', TD), [
      'spiffe://cluster.local/ns/shop/sa/frontend',
      'spiffe://cluster.local/ns/billing/sa/*',
      'spiffe://cluster.local/ns/ops/sa/prober',
    ]);
  });
  test('a SPIFFE ID need not be of the namespace/service account shape', () => {
    assert.deepEqual(parseAllowFrom('spiffe://cluster.local/gateway', TD), ['spiffe://cluster.local/gateway']);
  });
  const bad: Array<[string, RegExp]> = [
    ['', /names no identity/],
    ['shop/a,,shop/b', /empty entry/],
    ['shop', /entry "shop" is not <namespace>\/<serviceAccount>/],
    ['Shop/web', /entry "Shop\/web" is not/],
    ['shop/Web', /names service account "Web"/],
    ['shop/web/x', /names service account "web\/x"/],
    ['spiffe://cluster.local', /is not a SPIFFE ID/],
    ['spiffe://cluster.local/ns/../sa/x', /is not a SPIFFE ID/],
    ['spiffe://cluster.local/ns/shop/', /is not a SPIFFE ID/],
    ['spiffe://other.example/ns/shop/sa/web', /trust domain other\.example.*cluster\.local only/],
  ];
  for (const [value, why] of bad) {
    test(`${JSON.stringify(value)} is refused, naming the entry`, () => {
      assert.throws(() => parseAllowFrom(value, TD), (e: unknown) => e instanceof ValueError && why.test(e.why));
    });
  }
  test('an identity reads back as a person wrote it', () => {
    assert.equal(describeIdentity('spiffe://cluster.local/ns/shop/sa/web', TD), 'shop/web');
    assert.equal(describeIdentity('spiffe://cluster.local/ns/shop/sa/*', TD), 'shop/*');
    assert.equal(describeIdentity('spiffe://cluster.local/gateway', TD), 'spiffe://cluster.local/gateway');
  });
});

/** The bootstrap input splice-init would get, with $(POD_IP) expanded as the kubelet does. */
function inputOf(p: Pod, namespace = ns('shop', ENABLED), config = DEFAULT_CONFIG): BootstrapInput {
  const d = injectPod({ pod: p, namespace, cluster: {}, config });
  assert.equal(d.result, 'inject', JSON.stringify(d.reasons));
  if (d.result !== 'inject') throw new Error('not injected');
  const init = (d.pod.spec.initContainers ?? []).find((c) => c.name === 'splice-init');
  const args = init?.args ?? [];
  const text = args[args.indexOf(BOOTSTRAP_FLAGS.input) + 1] ?? '';
  return parseBootstrapInput(text.replace('$(POD_IP)', '10.244.1.5'));
}

const listener = (b: JsonObject, name: string): JsonObject => {
  const all = (b.static_resources as { listeners: JsonObject[] }).listeners;
  const found = all.find((l) => l.name === name);
  assert.ok(found, `no listener ${name}`);
  return found;
};
const chains = (l: JsonObject) => l.filter_chains as JsonObject[];
const clusters = (b: JsonObject) => (b.static_resources as { clusters: JsonObject[] }).clusters;
const json = (v: unknown) => JSON.stringify(v);

describe('inbound policy in the proxy', () => {
  test('permissive (the default): plaintext to an app port is passed to the app', () => {
    const input = inputOf(pod());
    assert.equal(input.inboundPolicy, 'permissive');
    const inbound = chains(listener(renderBootstrap(input), 'inbound')).map((c) => c.name);
    assert.deepEqual(inbound, ['loop-guard-15006', 'inbound-passthrough']);
  });
  for (const [how, p, namespace] of [
    ['the pod', pod({ annotations: { 'splice.dev/inbound-policy': 'strict' } }), ns('shop', ENABLED)],
    ['its namespace', pod(), ns('shop', ENABLED, { 'splice.dev/inbound-policy': 'strict' })],
    ['the config', pod(), ns('shop', ENABLED)],
  ] as const) {
    test(`strict, said by ${how}: every connection to an app port is closed and counted as inbound_refused`, () => {
      const config = how === 'the config' ? parseConfig({ proxy: { inboundPolicy: 'strict' } }) : DEFAULT_CONFIG;
      const input = inputOf(p, namespace, config);
      assert.equal(input.inboundPolicy, 'strict');
      const inbound = chains(listener(renderBootstrap(input), 'inbound'));
      assert.deepEqual(inbound.map((c) => c.name), ['loop-guard-15006', 'inbound-refused']);
      const text = json(inbound[1]);
      assert.match(text, /"stat_prefix":"inbound_refused","cluster":"blackhole"/);
      // Logged with who made the connection.
      assert.match(text, /"downstream_remote_address":"%DOWNSTREAM_REMOTE_ADDRESS%"/);
    });
  }
  test('a pod\'s "permissive" wins over its namespace\'s "strict"', () => {
    assert.equal(inputOf(pod({ annotations: { 'splice.dev/inbound-policy': 'permissive' } }), ns('shop', ENABLED, { 'splice.dev/inbound-policy': 'strict' })).inboundPolicy, 'permissive');
  });
  test('the mTLS port accepts any identity of the trust domain, unless allow-from names some', () => {
    const sans = (input: BootstrapInput) => {
      const chain = chains(listener(renderBootstrap(input), 'inbound-mtls')).find((c) => c.name === 'inbound-mtls');
      return (JSON.parse(json(chain)) as { transport_socket: { typed_config: { common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: unknown[] } } } } } })
        .transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names;
    };
    assert.deepEqual(sans(inputOf(pod())), [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/' } }]);
    const input = inputOf(pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend, billing/*' } }));
    assert.equal(input.inboundPolicy, 'strict', 'allow-from implies strict');
    assert.deepEqual(sans(input), [
      { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/shop/sa/frontend' } },
      { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/billing/sa/' } },
    ]);
  });
  test('the access log and stat names are the same in both modes, but for the refusing chain', () => {
    const permissive = renderBootstrap(inputOf(pod()));
    const strict = renderBootstrap(inputOf(pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend' } })));
    const logFields = (b: JsonObject) => [...json(b).matchAll(/"json_format":(\{[^}]*\})/g)].map((m) => m[1]);
    assert.deepEqual(new Set(logFields(strict)), new Set(logFields(permissive)));
    const prefixes = (b: JsonObject) => new Set([...json(b).matchAll(/"stat_prefix":"([^"]+)"/g)].map((m) => m[1]));
    assert.deepEqual([...prefixes(strict)].filter((p) => !prefixes(permissive).has(p)), ['inbound_refused']);
    assert.deepEqual([...prefixes(permissive)].filter((p) => !prefixes(strict).has(p)), ['inbound_passthrough']);
  });
});

const app = (fields: Partial<Container>): Pod => withApp(pod(), { ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9000 }], ...fields });

describe('probes pointed at the health listener', () => {
  const redirect = defaultRedirectOptions();
  test('each kind becomes a GET of /app-health/<container>/<kind> on 15021, timing kept, original recorded', () => {
    const p = app({
      startupProbe: { httpGet: { path: 'healthz?full=1#frag', port: 'http', scheme: 'HTTPS', httpHeaders: [{ name: 'Host', value: 'web.shop' }] }, failureThreshold: 30 },
      readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 3, timeoutSeconds: 2 },
      livenessProbe: { grpc: { port: 9000, service: 'shop.Cart' }, initialDelaySeconds: 5 },
    });
    const plan = planProbes(p, { redirect, rewrite: true, native: true });
    const c = plan.containers[0]!;
    assert.deepEqual(c.startupProbe, { httpGet: { path: '/app-health/app/startup', port: 15021, httpHeaders: [{ name: 'Host', value: 'web.shop' }] }, failureThreshold: 30 });
    assert.deepEqual(c.readinessProbe, { httpGet: { path: '/app-health/app/readiness', port: 15021 }, periodSeconds: 3, timeoutSeconds: 2 });
    assert.deepEqual(c.livenessProbe, { httpGet: { path: '/app-health/app/liveness', port: 15021 }, initialDelaySeconds: 5 });
    assert.deepEqual(plan.appProbes, [
      { path: '/app-health/app/startup', check: 'https', port: 8080, target: '/healthz?full=1', ownHost: true, timeoutSeconds: 1 },
      { path: '/app-health/app/readiness', check: 'tcp', port: 8080, timeoutSeconds: 2 },
      { path: '/app-health/app/liveness', check: 'grpc', port: 9000, service: 'shop.Cart', timeoutSeconds: 1 },
    ]);
    const original = p.spec.containers[0]!;
    assert.deepEqual(plan.originals, { app: { startupProbe: original.startupProbe, readinessProbe: original.readinessProbe, livenessProbe: original.livenessProbe } });
    assert.deepEqual(plan.untouched, []);
  });
  test('left as they were: exec, a port the redirect leaves alone, another host, an unknown port name, an odd scheme, path or service', () => {
    const p = app({
      startupProbe: { exec: { command: ['true'] } },
      readinessProbe: { httpGet: { path: '/', port: 15021 } },
      livenessProbe: { tcpSocket: { port: 'nope' } },
    });
    const other = withSpec(p, {
      containers: [
        ...p.spec.containers,
        { name: 'side', image: 'x', readinessProbe: { httpGet: { host: 'example.com', path: '/', port: 80 } }, livenessProbe: { httpGet: { path: '/a b', port: 80 } }, startupProbe: { httpGet: { path: '/', port: 80, scheme: 'FTP' } } },
        { name: 'metrics', image: 'x', readinessProbe: { httpGet: { path: '/', port: 9100 } } },
        { name: 'odd', image: 'x', readinessProbe: { httpGet: { path: '//evil/x', port: 80 } }, livenessProbe: { httpGet: { path: '/%zz', port: 80 } }, startupProbe: { grpc: { port: 90, service: 'a\nb' } } },
      ],
    });
    const plan = planProbes(other, { redirect: { ...redirect, excludeInboundPorts: [9100] }, rewrite: true, native: true });
    assert.deepEqual(plan.appProbes, []);
    assert.equal(plan.containers[0], other.spec.containers[0], 'a container with nothing rewritten is the same object');
    assert.deepEqual(plan.originals, {});
    // Only the ones a strict policy would then refuse are named; another host and a port the
    // container does not have are none of its business.
    assert.deepEqual(plan.untouched, [
      'startupProbe of container side: scheme "FTP" is neither HTTP nor HTTPS',
      'livenessProbe of container side: path "/a b" cannot be forwarded as it is',
      'startupProbe of container odd: service "a\\nb" is not one line of text',
      'readinessProbe of container odd: path "//evil/x" cannot be forwarded as it is',
      'livenessProbe of container odd: path "/%zz" cannot be forwarded as it is',
    ]);
  });
  test('what Helm leaves behind: a null host or path is no host or path; odd headers are not the engine\'s to trip on', () => {
    const p = app({ readinessProbe: { httpGet: { host: null, path: null, port: 8080, httpHeaders: 'x' } } as unknown as Container['readinessProbe'] });
    const plan = planProbes(p, { redirect, rewrite: true, native: true });
    assert.deepEqual(plan.appProbes, [{ path: '/app-health/app/readiness', check: 'http', port: 8080, target: '/', timeoutSeconds: 1 }]);
    assert.deepEqual(plan.containers[0]!.readinessProbe, { httpGet: { path: '/app-health/app/readiness', port: 15021 } });
  });
  test('a strict pod whose probes all go through the proxy gets no warning', () => {
    const p = app({ readinessProbe: { httpGet: { path: '/ready', port: 8080 } }, livenessProbe: { tcpSocket: { port: 8080 } }, startupProbe: { grpc: { port: 9000 } } });
    const d = injectPod({ pod: { ...p, metadata: { ...p.metadata, annotations: { 'splice.dev/allow-from': 'shop/web' } } }, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'inject');
    assert.deepEqual(d.warnings, []);
  });
  test('a user sidecar\'s probes go through a native proxy, not through a regular one that starts after it', () => {
    const sidecar = { name: 'log-shipper', image: 'x', restartPolicy: 'Always', readinessProbe: { tcpSocket: { port: 5000 } } };
    const p = withSpec(pod(), { initContainers: [sidecar] });
    assert.deepEqual(planProbes(p, { redirect, rewrite: true, native: true }).appProbes.map((a) => a.path), ['/app-health/log-shipper/readiness']);
    const regular = planProbes(p, { redirect, rewrite: true, native: false });
    assert.deepEqual(regular.appProbes, []);
    assert.equal(regular.initContainers?.[0], sidecar);
  });
  test('rewrite-probes "false" leaves every probe as it was', () => {
    const p = app({ readinessProbe: { tcpSocket: { port: 8080 } } });
    const d = injectPod({ pod: { ...p, metadata: { ...p.metadata, annotations: { 'splice.dev/rewrite-probes': 'false' } } }, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'inject');
    if (d.result !== 'inject') return;
    assert.deepEqual(d.pod.spec.containers[0]!.readinessProbe, { tcpSocket: { port: 8080 } });
    assert.equal(d.pod.metadata?.annotations?.['splice.dev/original-probes'], undefined);
  });
  test('the injected pod keeps the originals in splice.dev/original-probes, and the proxy knows where to send each', () => {
    const p = app({ readinessProbe: { httpGet: { path: '/ready', port: 8080 } }, livenessProbe: { tcpSocket: { port: 8080 } } });
    const d = injectPod({ pod: p, namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    if (d.result !== 'inject') throw new Error(d.result);
    const originals = JSON.parse(d.pod.metadata?.annotations?.['splice.dev/original-probes'] ?? '{}') as Record<string, unknown>;
    assert.deepEqual(originals, { app: { readinessProbe: p.spec.containers[0]!.readinessProbe, livenessProbe: p.spec.containers[0]!.livenessProbe } });

    const b = renderBootstrap(inputOf(p));
    const health = json(listener(b, 'readiness'));
    // HTTP: a route to the app's port on the pod's address, the original path, the Host the kubelet would send.
    assert.match(health, /"match":\{"path":"\/app-health\/app\/readiness","headers":\[\{"name":":method","string_match":\{"exact":"GET"\}\},\{"name":":path","string_match":\{"exact":"\/app-health\/app\/readiness"\}\}\]\},"route":\{"cluster":"app_health_http_8080","prefix_rewrite":"\/ready","timeout":"0s","host_rewrite_literal":"10\.244\.1\.5:8080"\}/);
    // TCP: answered by a health_check filter from its cluster's active check.
    assert.match(health, /"headers":\[\{"name":":path","string_match":\{"exact":"\/app-health\/app\/liveness"\}\}\],"cluster_min_healthy_percentages":\{"app_health_app_liveness":\{"value":100\}\}/);
    const tcp = clusters(b).find((c) => c.name === 'app_health_app_liveness');
    assert.match(json(tcp), /"address":"10\.244\.1\.5","port_value":8080/);
    assert.match(json(tcp), /"interval":"1s","no_traffic_interval":"1s","unhealthy_threshold":1,"healthy_threshold":1,"tcp_health_check":\{\}/);
    assert.match(json(clusters(b).find((c) => c.name === 'app_health_http_8080')), /"address":"10\.244\.1\.5","port_value":8080/);
  });
  test('a gRPC probe is checked over HTTP/2 with the probe\'s service; an HTTPS probe over TLS', () => {
    const b = renderBootstrap(inputOf(app({ livenessProbe: { grpc: { port: 9000, service: 'shop.Cart' } }, readinessProbe: { httpGet: { port: 8080, scheme: 'HTTPS' } } })));
    const grpc = json(clusters(b).find((c) => c.name === 'app_health_app_liveness'));
    assert.match(grpc, /"http2_protocol_options":\{\}/);
    assert.match(grpc, /"grpc_health_check":\{"service_name":"shop\.Cart","authority":"10\.244\.1\.5:9000"\}/);
    assert.match(json(clusters(b).find((c) => c.name === 'app_health_https_8080')), /UpstreamTlsContext/);
  });
});

describe('the bootstrap input carries policy and probes', () => {
  const base = inputOf(pod());
  test('round trip', () => {
    const input: BootstrapInput = {
      ...base,
      inboundPolicy: 'strict',
      allowFrom: ['spiffe://cluster.local/ns/shop/sa/web', 'spiffe://cluster.local/ns/billing/sa/*'],
      appProbes: [
        { path: '/app-health/app/readiness', check: 'http', port: 8080, target: '/ready?x=1', ownHost: true, timeoutSeconds: 1 },
        { path: '/app-health/app/liveness', check: 'grpc', port: 9000, service: 'shop.Cart', timeoutSeconds: 3 },
      ],
    };
    assert.deepEqual(parseBootstrapInput(formatBootstrapInput(input)), input);
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['inboundPolicy', 'open', /^inboundPolicy: "open" is not one of permissive, strict$/],
    ['allowFrom', ['shop/web'], /^allowFrom\[0\]: "shop\/web" is not a SPIFFE ID$/],
    ['appProbes', [{ path: '/admin', check: 'tcp', port: 1, timeoutSeconds: 1 }], /^appProbes\[0\]\.path: "\/admin" is not \/app-health/],
    ['appProbes', [{ path: '/app-health/a/liveness', check: 'udp', port: 1, timeoutSeconds: 1 }], /^appProbes\[0\]\.check: "udp" is not one of/],
    ['appProbes', [{ path: '/app-health/a/liveness', check: 'http', port: 1, target: '/a b', timeoutSeconds: 1 }], /^appProbes\[0\]\.target: "\/a b" is not a URL path$/],
    ['appProbes', [{ path: '/app-health/a/liveness', check: 'tcp', port: 1 }], /^appProbes\[0\]\.timeoutSeconds is missing$/],
  ];
  for (const [field, value, message] of bad) {
    test(`${field} ${JSON.stringify(value)} is refused, naming the field`, () => {
      assert.throws(() => parseBootstrapInput(JSON.stringify({ ...base, [field]: value })), (e: unknown) => e instanceof Error && message.test(e.message));
    });
  }
});
