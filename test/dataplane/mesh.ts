// Two injected pods and an outsider, made of network namespaces on one bridge, running
// what splice's core rendered for them: splice-init's `splice iptables --apply` with
// the init container's own args (which also write the proxy's bootstrap into the
// splice-proxy-config volume), and Envoy with the splice-proxy container's command
// line, as its uid, with both volumes mounted where the pod would have them.
// Certificates come from the mesh CA code the identity controller uses.
//
//   lan (bridge br0)
//    ├── pod A  198.18.0.1   2001:2::1    client side: exclude-outbound-ports 9090, exclude-outbound-cidrs 198.18.0.11/32
//    ├── pod B  198.18.0.2   2001:2::2    server side: app on 8080 and 9090, exclude-inbound-ports 9090 and 7009
//    ├── pod S  198.18.0.3   2001:2::3    only with startMesh({ strictPod }): allow-from demo/a (so strict),
//    │                                    probes of every kind (probe-apps.ts)
//    ├── C      198.18.0.10, 198.18.0.11, 2001:2::10   outside the mesh: no proxy, no rules
//    └── D      198.18.0.12  2001:2::12   outside the mesh, a client only
//
// C also runs splice's discovery server (as `splice serve` does in a cluster), which the
// proxies reach by the name splice.splice-system.svc (an /etc/hosts line in their mount
// namespace stands in for cluster DNS). It tells them of three Services in 198.18.1.0/24,
// an address range with no host on it, as ClusterIPs have none: `web` (B), `mixed` (B and
// C) and `impostor` (B, but claimed by another service account).
//
// The mesh CIDRs are 198.18.0.0/29 and 2001:2::/125: A and B are in them, C and D are not,
// and with an IPv6 mesh CIDR the pods' IPv6 goes through their proxies too. B and C also
// run the traffic server of traffic.ts, so D to C is the same traffic without any proxy.
// Everything stays inside these namespaces (198.18.0.0/15 and 2001:2::/48 are reserved
// for network tests and benchmarks, RFC 2544 and RFC 5180).

import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { parseConfig, type Config } from '../../src/inject/config.js';
import { injectPod } from '../../src/inject/engine.js';
import { IDENTITY_MOUNT_PATH, INJECTED_NAMES, KEYS, PROXY_CONFIG_MOUNT_PATH } from '../../src/inject/keys.js';
import { DISCOVERY_PORT, SDS_FILES } from '../../src/inject/bootstrap.js';
import { discoveryHost } from '../../src/inject/proxy-texts.js';
import type { DiscoveryInput } from '../../src/discovery/resources.js';
import { startDiscoveryIn } from './discovery.js';
import type { Container, Pod } from '../../src/inject/types.js';
import { parseMeshCa, type MeshCa } from '../../src/identity/ca.js';
import { generateMeshRoot, issueIdentity, type IssuedIdentity } from '../../src/identity/issue.js';
import { REPO } from '../support/golden.js';
import { accessLogEntries, capture, envoyBinary, eventually, Netns, probe, stop } from './envoy.js';
import { PROXY_PORTS } from '../../src/iptables/options.js';
import { writeIdentity } from './identity-volume.js';
import { startInNetns, stop as killNow } from './netns.js';
import { startTrafficServer, TRAFFIC_PORTS, writeTrafficScripts } from './traffic.js';
import { S_CONTAINERS, startProbeApps } from './probe-apps.js';

export const TRUST_DOMAIN = 'mesh.test';
export const MESH_CIDR = '198.18.0.0/29';
export const MESH_CIDR6 = '2001:2::/125';
export const IP = Object.freeze({ a: '198.18.0.1', b: '198.18.0.2', s: '198.18.0.3', c: '198.18.0.10', cExcluded: '198.18.0.11', d: '198.18.0.12' });
export const IP6 = Object.freeze({ a: '2001:2::1', b: '2001:2::2', s: '2001:2::3', c: '2001:2::10', d: '2001:2::12' });
export const APP_PORT = 8080;
/** The Services discovery tells of: ClusterIPs no host has, so only a proxy that knows them reaches anyone. */
export const SERVICE = Object.freeze({ web: '198.18.1.80', mixed: '198.18.1.81', impostor: '198.18.1.82', port: 80 });
const SERVICE_CIDR = '198.18.1.0/24';
/** B's app port that both pods exclude from capture (A outbound, B inbound). */
export const EXCLUDED_PORT = 9090;
/** The ports B excludes from its inbound redirect. */
export const B_EXCLUDED_INBOUND = [EXCLUDED_PORT, TRAFFIC_PORTS.excluded];
/** The apps' and clients' uid: anything but the proxy's. */
export const APP_UID = 1000;
const PREFIX = 24;
const PREFIX6 = 64;

export const spiffeOf = (sa: string) => `spiffe://${TRUST_DOMAIN}/ns/demo/sa/${sa}`;

export type MeshPodName = 'a' | 'b' | 's';

export interface MeshPod {
  name: MeshPodName;
  ns: Netns;
  pod: Pod;
  proxyUid: number;
  identityDir: string;
  identity: IssuedIdentity;
  /** The identity volume's files other than the PEMs: the SDS files, from the pod's annotations. */
  sdsFiles: Record<string, string>;
  envoy: { child: ChildProcess; stdout: () => string; stderr: () => string };
  /** splice-init's output. */
  initOutput: string;
}

export interface Mesh {
  config: Config;
  ca: MeshCa;
  lan: Netns;
  a: MeshPod;
  b: MeshPod;
  /** Started with startMesh({ strictPod }): strict, allowing A only (policy.test.ts). */
  s?: MeshPod;
  sApps?: { httpAndGrpc: ChildProcess; tcp: ChildProcess };
  c: Netns;
  d: Netns;
  dir: string;
  /** The traffic client script (traffic.ts), for `traffic()`. */
  trafficClient: string;
  destroy(): Promise<void>;
}

/** The pod as a user would write it; splice's core does the rest. */
export function userPod(name: MeshPodName, annotations: Record<string, string>, containers?: Container[]): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${name}-0`, namespace: 'demo', annotations },
    spec: { serviceAccountName: name, containers: containers ?? [{ name: 'app', image: 'registry.example/app:1', ports: [{ containerPort: APP_PORT }] }] },
  };
}

function container(pod: Pod, name: string): Container {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])] as Container[];
  const found = all.find((c) => c.name === name);
  if (!found) throw new Error(`the injected pod has no ${name} container`);
  return found;
}

/** `$(VAR)` in a container's args, expanded from its env the way the kubelet does (fieldRefs of the pod's name, namespace and IP only). */
function expandArgs(c: Container, pod: Pod, podIp: string): string[] {
  const values = new Map<string, string>();
  const fields: Record<string, string | undefined> = { 'metadata.name': pod.metadata?.name, 'metadata.namespace': pod.metadata?.namespace, 'status.podIP': podIp };
  for (const e of (c.env ?? []) as Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value = e.value ?? (field === undefined ? undefined : fields[field]);
    if (value !== undefined) values.set(e.name, value);
  }
  return (c.args ?? []).map((a) => a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, v: string) => values.get(v) ?? whole));
}

/** A namespace on the bridge with `ips` on its eth0 (IPv6 ones without duplicate detection, so usable at once). */
async function attach(lan: Netns, name: string, ips: string[]): Promise<Netns> {
  const ns = await Netns.create(`splice-mesh-${name}-${process.pid}-${randomInt(1e6)}`);
  try {
    const port = `v${name}`;
    await lan.must('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    await lan.must('ip', ['link', 'set', port, 'master', 'br0', 'up']);
    for (const ip of ips) {
      const v6 = ip.includes(':');
      await ns.must('ip', ['addr', 'add', `${ip}/${v6 ? PREFIX6 : PREFIX}`, 'dev', 'eth0', ...(v6 ? ['nodad'] : [])]);
    }
    await ns.must('ip', ['link', 'set', 'eth0', 'up']);
    // As a pod's default route would: the app's connect() to a ClusterIP gets as far as
    // the redirect rules instead of failing for want of a route.
    await ns.must('ip', ['route', 'add', SERVICE_CIDR, 'dev', 'eth0']);
  } catch (e) {
    await ns.destroy();
    throw e;
  }
  return ns;
}

/** An HTTP app that says who answered and what it was asked, started once it listens. */
function startApp(ns: Netns, listen: Array<[string, number]>, tag: string): Promise<ChildProcess> {
  const script = `
    const http = require('node:http');
    let n = 0;
    for (const [host, port] of ${JSON.stringify(listen)}) {
      http.createServer((req, res) => {
        res.end('${tag} ' + req.socket.localAddress + ':' + req.socket.localPort + ' ' + req.method + ' ' + req.url + ' from ' + req.socket.remoteAddress);
      }).listen(port, host, () => ++n === ${listen.length} && console.log('ready'));
    }`;
  return startInNetns(ns.name, 'setpriv', [`--reuid=${APP_UID}`, `--regid=${APP_UID}`, '--clear-groups', process.execPath, '-e', script]);
}

async function meshPod(name: MeshPodName, ns: Netns, annotations: Record<string, string>, config: Config, ca: MeshCa, dir: string, envoyBin: string, hostsFile: string, containers?: Container[]): Promise<MeshPod> {
  const decision = injectPod({
    pod: userPod(name, annotations, containers),
    namespace: { name: 'demo', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} },
    cluster: {},
    config,
  });
  if (decision.result !== 'inject') throw new Error(`pod ${name} was not injected: ${decision.result} ${JSON.stringify(decision.reasons)}`);
  const pod = decision.pod;

  // splice-init: the init container's command, run as root in the pod's namespace, with
  // the pod's splice-proxy-config volume (a directory of this test's) bind-mounted where
  // it writes the proxy's bootstrap, in a mount namespace of its own as the proxy below.
  const init = container(pod, INJECTED_NAMES.init);
  if (init.command?.[0] !== 'splice') throw new Error(`splice-init runs ${JSON.stringify(init.command)}, expected splice`);
  const proxyConfigDir = join(dir, name, 'proxy-config');
  await mkdir(proxyConfigDir, { recursive: true });
  const bindAndRun = 'mkdir -p "$1" && mount --bind "$0" "$1" && shift 1 && exec "$@"';
  const initRun = await ns.exec('unshare', [
    '--mount', '--propagation', 'private', 'sh', '-c', bindAndRun, proxyConfigDir, PROXY_CONFIG_MOUNT_PATH,
    process.execPath, join(REPO, 'bin/splice.js'), ...expandArgs(init, pod, IP[name]),
  ]);
  if (initRun.code !== 0) throw new Error(`splice-init in pod ${name} failed (${initRun.code}): ${initRun.stderr}`);

  // The identity volume: the Secret's PEMs and the two SDS files from the annotations.
  const identity = await issueIdentity(ca, { trustDomain: TRUST_DOMAIN, namespace: 'demo', serviceAccount: name }, 3600_000);
  const proxy = container(pod, INJECTED_NAMES.proxy);
  const proxyUid = Number(proxy.securityContext?.runAsUser);
  const annotationsOut = pod.metadata?.annotations ?? {};
  const sdsFiles = {
    [SDS_FILES.certificate]: annotationsOut[KEYS.sdsCertificate] ?? '',
    [SDS_FILES.trustBundle]: annotationsOut[KEYS.sdsTrustBundle] ?? '',
  };
  const identityDir = join(dir, name, 'identity');
  await mkdir(identityDir, { recursive: true });
  await writeIdentity(identityDir, 'v1', { 'tls.crt': identity.cert, 'tls.key': identity.key, 'ca.crt': identity.trustBundle, ...sdsFiles }, proxyUid);

  // splice-proxy: its command line, as its uid, with the volume bind-mounted at the path
  // the bootstrap names, in a mount namespace of its own so the mount never reaches the
  // host (only the empty mount point is created in the host's /run).
  if (proxy.command?.[0] !== 'envoy') throw new Error(`splice-proxy runs ${JSON.stringify(proxy.command)}, expected envoy`);
  const mountAndRun = 'mkdir -p "$1" "$4" && mount --bind "$0" "$1" && mount --bind "$2" /etc/hosts && mount -o bind,ro "$3" "$4" && shift 4 && exec "$@"';
  const child = ns.spawn('unshare', [
    '--mount', '--propagation', 'private', 'sh', '-c', mountAndRun, identityDir, IDENTITY_MOUNT_PATH, hostsFile, proxyConfigDir, PROXY_CONFIG_MOUNT_PATH,
    'setpriv', `--reuid=${proxyUid}`, `--regid=${proxyUid}`, '--clear-groups', envoyBin, ...expandArgs(proxy, pod, IP[name]),
  ]);
  const envoy = { child, ...capture(child) };
  return { name, ns, pod, proxyUid, identityDir, identity, sdsFiles, envoy, initOutput: initRun.stdout + initRun.stderr };
}

export interface MeshOptions {
  /** Also start pod S: strict, allow-from A only, with probes of every kind (probe-apps.ts). */
  strictPod?: boolean;
}

/** S's allowed callers: A's identity; B is a mesh peer of another identity. */
export const S_ALLOW_FROM = 'demo/a';

export async function startMesh(opts: MeshOptions = {}): Promise<Mesh> {
  const undo: Array<() => Promise<void>> = [];
  const destroy = async () => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'splice-mesh-'));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    // The proxy's uid walks down to its identity volume, and runs a copy of Envoy: the
    // installed one sits under root's home, which other uids cannot enter.
    await chmod(dir, 0o755);
    const envoyBin = join(dir, 'envoy');
    await copyFile(await realpath(envoyBinary()), envoyBin);
    await chmod(envoyBin, 0o755);

    const config = parseConfig({ trustDomain: TRUST_DOMAIN, proxy: { meshCidrs: `${MESH_CIDR},${MESH_CIDR6}`, logLevel: process.env.SPLICE_MESH_LOG ?? 'info' } });
    const root = await generateMeshRoot(TRUST_DOMAIN);
    const ca = parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'the test CA');

    const lan = await Netns.create(`splice-mesh-lan-${process.pid}-${randomInt(1e6)}`);
    undo.push(() => lan.destroy());
    await lan.must('ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await lan.must('ip', ['link', 'set', 'br0', 'up']);

    const nsA = await attach(lan, 'a', [IP.a, IP6.a]);
    undo.push(() => nsA.destroy());
    const nsB = await attach(lan, 'b', [IP.b, IP6.b]);
    undo.push(() => nsB.destroy());
    const c = await attach(lan, 'c', [IP.c, IP.cExcluded, IP6.c]);
    undo.push(() => c.destroy());
    const d = await attach(lan, 'd', [IP.d, IP6.d]);
    undo.push(() => d.destroy());
    const scripts = await writeTrafficScripts(dir);
    for (const ns of [nsB, c]) {
      const child = await startTrafficServer(ns, scripts.server, APP_UID);
      undo.push(() => killNow(child));
    }

    const apps = [
      [nsB, [['0.0.0.0', APP_PORT], ['0.0.0.0', EXCLUDED_PORT]], 'pod-b'],
      [c, [[IP.c, APP_PORT], [IP.cExcluded, APP_PORT]], 'outsider-c'],
    ] as const;
    for (const [ns, listen, tag] of apps) {
      const child = await startApp(ns, listen.map(([host, port]) => [host, port]), tag);
      undo.push(() => killNow(child));
    }

    const hostsFile = join(dir, 'hosts');
    await writeFile(hostsFile, `127.0.0.1 localhost\n${IP.c} ${discoveryHost(config.injectorNamespace)}\n`, { mode: 0o644 });
    const own = await issueIdentity(ca, { trustDomain: TRUST_DOMAIN, namespace: config.injectorNamespace, serviceAccount: 'splice' }, 3600_000);
    const discovery = await startDiscoveryIn(c.name, dir, {
      input: serviceObjects(config),
      tls: { cert: own.cert, key: own.key, trustBundle: own.trustBundle },
      host: IP.c,
      port: DISCOVERY_PORT,
    });
    undo.push(() => killNow(discovery));

    const a = await meshPod('a', nsA, { [KEYS.excludeOutboundPorts]: String(EXCLUDED_PORT), [KEYS.excludeOutboundCidrs]: `${IP.cExcluded}/32` }, config, ca, dir, envoyBin, hostsFile);
    const b = await meshPod('b', nsB, { [KEYS.excludeInboundPorts]: B_EXCLUDED_INBOUND.join(',') }, config, ca, dir, envoyBin, hostsFile);
    let s: MeshPod | undefined;
    let sApps: Mesh['sApps'];
    if (opts.strictPod) {
      const nsS = await attach(lan, 's', [IP.s, IP6.s]);
      undo.push(() => nsS.destroy());
      // The app first, as the kubelet starts it with a native proxy: the proxy's first
      // checks then find it listening.
      sApps = await startProbeApps(nsS, APP_UID);
      for (const child of Object.values(sApps)) undo.push(() => killNow(child));
      s = await meshPod('s', nsS, { [KEYS.allowFrom]: S_ALLOW_FROM }, config, ca, dir, envoyBin, hostsFile, S_CONTAINERS);
    }
    for (const p of [a, b, ...(s ? [s] : [])]) {
      undo.push(() => stop(p.envoy.child));
      await eventually(`the proxy of pod ${p.name} to answer /ready`, async () => {
        if (p.envoy.child.exitCode !== null) throw new Error(`Envoy of pod ${p.name} exited ${p.envoy.child.exitCode}:\n${p.envoy.stderr().slice(-4000)}`);
        const r = await probe(p.ns, { kind: 'http', host: '127.0.0.1', port: 15021, path: '/ready' });
        return r.status === 200 ? true : undefined;
      }, { timeoutMs: 20_000 });
    }
    return { config, ca, lan, a, b, ...(s ? { s } : {}), ...(sApps ? { sApps } : {}), c, d, dir, trafficClient: scripts.client, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** The cluster objects discovery renders from: Services, their EndpointSlices, the injected pods. */
function serviceObjects(config: Config): DiscoveryInput {
  const svc = (name: string, ip: string) => ({ metadata: { namespace: 'demo', name }, spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', port: SERVICE.port, protocol: 'TCP' }] } });
  const endpoint = (ip: string, pod: string) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: 'demo', name: pod } });
  const slice = (service: string, endpoints: Array<ReturnType<typeof endpoint>>) => ({
    metadata: { namespace: 'demo', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: APP_PORT, protocol: 'TCP' }],
    endpoints,
  });
  return {
    services: [svc('web', SERVICE.web), svc('mixed', SERVICE.mixed), svc('impostor', SERVICE.impostor)],
    endpointSlices: [
      slice('web', [endpoint(IP.b, 'b-0')]),
      slice('mixed', [endpoint(IP.b, 'b-0'), endpoint(IP.c, 'c-0')]),
      slice('impostor', [endpoint(IP.b, 'x-0')]),
    ],
    // c-0 is not injected; x-0 claims B's address under another service account.
    meshedPods: new Map([['demo/a-0', { serviceAccount: 'a' }], ['demo/b-0', { serviceAccount: 'b' }], ['demo/x-0', { serviceAccount: 'x' }]]),
    trustDomain: config.trustDomain,
    identityDir: IDENTITY_MOUNT_PATH,
    maxConnections: config.proxy.maxConnections,
  };
}

/**
 * tcpdump on a namespace's eth0, each packet written as it comes (--immediate-mode: no
 * waiting for a ring-buffer block to fill; -U: no stdio buffering of the file).
 */
export async function startCapture(ns: Netns, file: string, filter: string[]): Promise<{ stop: () => Promise<string> }> {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'tcpdump', '-i', 'eth0', '-n', '--immediate-mode', '-U', '-Z', 'root', '-w', file, ...filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  const out = capture(child);
  await eventually('tcpdump to listen', async () => {
    if (child.exitCode !== null) throw new Error(`tcpdump exited ${child.exitCode}: ${out.stderr()}`);
    return out.stderr().includes('listening on') ? true : undefined;
  });
  return {
    // A moment for the last packets (the connection's close) to be read, then SIGINT,
    // on which tcpdump writes what it holds and prints its counts.
    stop: async () => {
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      return out.stderr();
    },
  };
}

export type LogEntry = Record<string, unknown>;

/** Pod `p`'s access log entries so far (Envoy flushes them every second). */
export function entries(p: MeshPod): LogEntry[] {
  return accessLogEntries(p.envoy.stdout());
}

/** The access log entry of pod `p` that `match` picks, once Envoy has flushed it. */
export function logged(p: MeshPod, what: string, match: (e: LogEntry) => boolean): Promise<LogEntry> {
  return eventually(`pod ${p.name}'s access log to show ${what}`, async () => entries(p).find(match));
}

/** Counters from the admin (loopback only, so asked from inside the pod). */
export async function stats(p: MeshPod, filter: string): Promise<Map<string, number>> {
  const r = await probe(p.ns, { kind: 'http', host: '127.0.0.1', port: PROXY_PORTS.admin, path: `/stats?filter=${encodeURIComponent(filter)}` });
  if (r.status !== 200) throw new Error(`admin /stats of pod ${p.name}: ${JSON.stringify(r)}`);
  const out = new Map<string, number>();
  for (const line of (r.body ?? '').split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line.trim());
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** One counter of pod `p`'s proxy; a name Envoy does not have is an error, not 0. */
export async function stat(p: MeshPod, name: string): Promise<number> {
  const value = (await stats(p, `^${name.replace(/\./g, '\\.')}$`)).get(name);
  if (value === undefined) throw new Error(`pod ${p.name}'s proxy has no counter ${name}`);
  return value;
}
