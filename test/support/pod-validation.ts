// A model of the parts of the API server's pod validation (and of its warnings) that
// what splice adds could trip, so property tests can hold thousands of injected pods
// to "valid whenever the original is" in seconds. It is a model and may miss a rule:
// the end-to-end differential test (test/e2e/validation.test.ts) holds the same
// property against a real kube-apiserver. Sources, in k8s.io/kubernetes v1.37:
// pkg/apis/core/validation/validation.go (errors), pkg/api/pod/warnings.go (warnings),
// k8s.io/apimachinery/pkg/api/validation/objectmeta.go (annotation size).
import { aggregateRequests } from '../../src/inject/pod-resources.js';
import { compareQuantities, parseQuantity, type Quantity } from '../../src/inject/quantity.js';
import type { Pod } from '../../src/inject/types.js';

type Rec = Record<string, unknown>;
const isRecord = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRecord) : []);

// securityContext fields validateWindows refuses ("cannot be set for a windows pod").
const LINUX_ONLY = ['seLinuxOptions', 'seccompProfile', 'capabilities', 'readOnlyRootFilesystem', 'privileged', 'allowPrivilegeEscalation', 'procMount', 'runAsUser', 'runAsGroup', 'appArmorProfile'];

function quantity(map: unknown, r: string): Quantity | undefined {
  const v = isRecord(map) ? map[r] : undefined;
  return typeof v === 'string' ? parseQuantity(v) : undefined;
}

export interface Verdict {
  errors: string[];
  /** Keyed by container names, not indexes, so adding containers does not rename them. */
  warnings: string[];
}

export function validatePod(pod: Pod): Verdict {
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
    const portNames = list(c.ports).map((p) => p.name).filter((n) => n !== undefined);
    for (const [i, n] of portNames.entries()) if (portNames.indexOf(n) !== i) errors.push(`${String(c.name)}: duplicate port name ${String(n)}`);
  }

  const podRes = isRecord(spec.resources) ? spec.resources : undefined;
  if (podRes) {
    for (const r of ['cpu', 'memory'] as const) {
      const podReq = quantity(podRes.requests, r);
      if (podReq && compareQuantities(aggregateRequests(pod, r), podReq) > 0) errors.push(`spec.resources.requests.${r}: below aggregate container requests`);
      const podLim = quantity(podRes.limits, r);
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
