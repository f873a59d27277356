// A model of the parts of the API server's pod validation (and of its warnings) that
// what splice adds could trip, so property tests can hold thousands of injected pods
// to "valid whenever the original is" in seconds. It is a model and may miss a rule:
// the end-to-end differential test (test/e2e/validation.test.ts) holds the same
// property against a real kube-apiserver. Sources, in k8s.io/kubernetes v1.37:
// pkg/apis/core/validation/validation.go (errors), pkg/api/pod/warnings.go (warnings),
// k8s.io/apimachinery/pkg/api/validation/objectmeta.go (annotation size).
// Quantities are parsed with splice's own parser, checked against apimachinery's
// ParseQuantity on generated strings; the aggregation below is written anew from the
// KEP, so a mistake in src/inject/pod-resources.ts cannot hide here.
import { addQuantities, compareQuantities, parseQuantity, ZERO, type Quantity } from '../../src/inject/quantity.js';
import { isRecord } from '../../src/inject/shape.js';
import type { Pod } from '../../src/inject/types.js';

type Rec = Record<string, unknown>;
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRecord) : []);

// securityContext fields validateWindows refuses ("cannot be set for a windows pod").
const LINUX_ONLY = ['seLinuxOptions', 'seccompProfile', 'capabilities', 'readOnlyRootFilesystem', 'privileged', 'allowPrivilegeEscalation', 'procMount', 'runAsUser', 'runAsGroup', 'appArmorProfile'];

function quantity(map: unknown, r: string): Quantity | undefined {
  const v = isRecord(map) ? map[r] : undefined;
  return typeof v === 'string' ? parseQuantity(v) : undefined;
}

const sum = (qs: Quantity[]): Quantity => qs.reduce(addQuantities, ZERO);
const larger = (a: Quantity, b: Quantity): Quantity => (compareQuantities(a, b) >= 0 ? a : b);

/**
 * KEP-753: while init container i starts, the pod uses its request plus those of the
 * sidecars (restartPolicy Always) before it; once running, every container and every
 * sidecar. The pod needs the larger. A request defaults to the limit.
 */
function podRequests(containers: Rec[], inits: Rec[], r: string): Quantity {
  const request = (c: Rec): Quantity => {
    const res = isRecord(c.resources) ? c.resources : {};
    return quantity(res.requests, r) ?? quantity(res.limits, r) ?? ZERO;
  };
  const sidecar = (c: Rec) => c.restartPolicy === 'Always';
  const running = addQuantities(sum(containers.map(request)), sum(inits.filter(sidecar).map(request)));
  const starting = inits.map((c, i) => addQuantities(request(c), sum(inits.slice(0, i).filter(sidecar).map(request))));
  return starting.reduce(larger, running);
}

export interface Verdict {
  errors: string[];
  /** Keyed by container names, not indexes, so adding containers does not rename them. */
  warnings: string[];
}

/**
 * What the API server of Kubernetes 1.`minor` (a current one when absent) would say
 * about `pod`: errors refuse it, warnings are printed.
 */
// validateProbe and validateHandler (pkg/apis/core/validation): exactly one handler, a
// port that is a number 1-65535 or a port name (IANA_SVC_NAME), a gRPC port a number; an
// init container has probes only when it is a sidecar (restartPolicy: Always).
const PORT_NAME = /^(?=.{1,15}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
function probeErrors(c: Rec, init: boolean): string[] {
  const out: string[] = [];
  for (const field of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const probe = c[field];
    if (probe === undefined || probe === null) continue;
    const at = `${String(c.name)}.${field}`;
    if (init && c.restartPolicy !== 'Always') out.push(`${at}: may not be set for init containers without restartPolicy=Always`);
    if (!isRecord(probe)) {
      out.push(`${at}: must be an object`);
      continue;
    }
    const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => probe[h] !== undefined && probe[h] !== null);
    if (handlers.length !== 1) out.push(`${at}: must specify exactly one handler (has ${handlers.join(', ') || 'none'})`);
    for (const h of ['httpGet', 'tcpSocket', 'grpc']) {
      const handler = probe[h];
      if (!isRecord(handler)) continue;
      const port = handler.port;
      const numeric = typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
      const named = h !== 'grpc' && typeof port === 'string' && PORT_NAME.test(port) && /[a-z]/.test(port);
      if (!numeric && !named) out.push(`${at}.${h}.port: ${JSON.stringify(port)} is not a valid port`);
    }
    if ((field === 'livenessProbe' || field === 'startupProbe') && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
      out.push(`${at}.successThreshold: must be 1`);
    }
  }
  return out;
}

export function validatePod(pod: Pod, minor?: number): Verdict {
  const errors: string[] = [];
  const warnings: string[] = [];
  const spec = pod.spec as unknown as Rec;
  const containers = list(spec.containers);
  const inits = list(spec.initContainers);
  const all = [...inits, ...containers];

  const names = all.map((c) => String(c.name));
  for (const [i, n] of names.entries()) if (names.indexOf(n) !== i) errors.push(`duplicate container name ${n}`);
  const volumes = list(spec.volumes).map((v) => String(v.name));
  for (const [i, n] of volumes.entries()) if (volumes.indexOf(n) !== i) errors.push(`duplicate volume name ${n}`);

  if (isRecord(spec.os) && spec.os.name === 'windows') {
    for (const c of all) {
      const sc = isRecord(c.securityContext) ? c.securityContext : {};
      for (const f of LINUX_ONLY) if (sc[f] !== undefined) errors.push(`${String(c.name)}.securityContext.${f}: cannot be set for a windows pod`);
    }
  }

  for (const c of all) {
    for (const m of list(c.volumeMounts)) if (!volumes.includes(String(m.name))) errors.push(`${String(c.name)}: volume mount ${String(m.name)} not found`);
    const res = isRecord(c.resources) ? c.resources : {};
    for (const r of ['cpu', 'memory']) {
      const req = quantity(res.requests, r);
      const lim = quantity(res.limits, r);
      if (req && lim && compareQuantities(req, lim) > 0) errors.push(`${String(c.name)}: ${r} request above limit`);
      for (const kind of ['requests', 'limits'] as const) {
        const q = quantity(res[kind], r);
        if (r === 'memory' && q && q.num % q.den !== 0n) warnings.push(`${String(c.name)}.resources.${kind}.memory: fractional byte value`);
      }
    }
    // validateSleepAction: a sleep hook may not outlast the grace period (30 when unset).
    const grace = typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30;
    const lifecycle = isRecord(c.lifecycle) ? c.lifecycle : {};
    for (const hook of ['postStart', 'preStop']) {
      const h = lifecycle[hook];
      const sleep = isRecord(h) && isRecord(h.sleep) ? h.sleep : undefined;
      if (sleep && (typeof sleep.seconds !== 'number' || sleep.seconds < 0 || sleep.seconds > grace)) {
        errors.push(`${String(c.name)}.lifecycle.${hook}.sleep.seconds: must be non-negative and less than terminationGracePeriodSeconds (${grace})`);
      }
    }
    const portNames = list(c.ports).map((p) => p.name).filter((n) => n !== undefined);
    for (const [i, n] of portNames.entries()) if (portNames.indexOf(n) !== i) errors.push(`${String(c.name)}: duplicate port name ${String(n)}`);
    errors.push(...probeErrors(c, inits.includes(c)));
  }

  // Before 1.34 the PodLevelResources gate is off by default and spec.resources is dropped.
  const podRes = isRecord(spec.resources) && (minor === undefined || minor >= 34) ? spec.resources : undefined;
  if (podRes) {
    for (const r of ['cpu', 'memory'] as const) {
      const podReq = quantity(podRes.requests, r);
      const podLim = quantity(podRes.limits, r);
      const needed = podRequests(containers, inits, r);
      if (podReq && compareQuantities(needed, podReq) > 0) errors.push(`spec.resources.requests.${r}: below aggregate container requests`);
      // Limits only: the pod's requests are filled in after admission, from the containers'
      // (or the limit), and may not exceed the limit.
      if (!podReq && podLim && compareQuantities(needed, podLim) > 0) errors.push(`spec.resources.limits.${r}: below aggregate container requests`);
      for (const c of containers) {
        const lim = quantity(isRecord(c.resources) ? c.resources.limits : undefined, r);
        if (podLim && lim && compareQuantities(lim, podLim) > 0) errors.push(`${String(c.name)}: ${r} limit above the pod's`);
      }
    }
  }

  let annotationBytes = 0;
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) annotationBytes += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  if (annotationBytes > 256 * 1024) errors.push('metadata.annotations: too long');

  // Ports across every container: warnings, never errors.
  const seenPorts = new Map<string, string>();
  const seenNames = new Map<string, string>();
  for (const c of all) {
    for (const p of list(c.ports)) {
      const key = `${String(p.containerPort)}/${String(p.protocol ?? 'TCP')}`;
      const other = seenPorts.get(key);
      if (other !== undefined) warnings.push(`${String(c.name)} port ${key}: duplicate port definition with ${other}`);
      else seenPorts.set(key, String(c.name));
      if (typeof p.name === 'string') {
        const owner = seenNames.get(p.name);
        if (owner !== undefined && owner !== String(c.name)) warnings.push(`${String(c.name)} port name ${p.name}: duplicate port name with ${owner}`);
        else seenNames.set(p.name, String(c.name));
      }
    }
  }
  return { errors, warnings };
}
