// The splice-proxy container: Envoy, run as uid 1337 (the uid the redirect rules let
// through, so the proxy's own traffic does not loop), started on the bootstrap file
// splice-init rendered into the volume splice-proxy-config (init.ts).

import type { Config, ContainerResources } from './config.js';
import { noApiTokenMount } from './api-token.js';
import { BOOTSTRAP_FILE, IDENTITY_MOUNT_PATH, INJECTED_NAMES, METRICS_PORT_NAME, PROXY_CONFIG_MOUNT_PATH } from './keys.js';
import type { Overrides } from './overrides.js';
import type { Container, Lifecycle, Probe } from './types.js';
import { PROXY_PORTS } from '../iptables/options.js';

export interface ProxyPlan {
  /** The proxy's requests and limits (the overrides', less what the pod budgets at pod level). */
  resources: ContainerResources;
  native: boolean;
  hold: boolean;
  /** How a regular proxy drains before it is stopped (regular-proxy.ts preStopDrain). */
  drain: Drain;
}

/**
 * A regular proxy's preStop wait: `seconds` (0: no hook), as a sleep action where the API
 * server takes one (`sleepAction`), else `sleep` run in the proxy image.
 */
export interface Drain {
  seconds: number;
  sleepAction: boolean;
}

const readyProbe = (extra: Partial<Probe>): Probe => ({
  httpGet: { path: '/ready', port: PROXY_PORTS.readiness },
  ...extra,
});

export function proxyContainer(plan: ProxyPlan, overrides: Overrides, config: Config): Container {
  const c: Container = {
    name: INJECTED_NAMES.proxy,
    image: config.proxy.image,
    ...(config.proxy.imagePullPolicy ? { imagePullPolicy: config.proxy.imagePullPolicy } : {}),
    command: ['envoy'],
    args: [
      '--config-path', BOOTSTRAP_FILE,
      '--log-level', overrides.logLevel,
      // No shared memory to hand over to: the container is replaced, never hot-restarted.
      '--disable-hot-restart',
      '--drain-time-s', String(config.proxy.drainSeconds),
      // Envoy starts one worker per node CPU by default, which costs memory for nothing
      // on a sidecar that serves one pod.
      '--concurrency', '2',
      '--service-node', '$(POD_NAME).$(POD_NAMESPACE)',
      // Access logs otherwise sit in Envoy's buffer for up to ten seconds.
      '--file-flush-interval-msec', '1000',
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    ports: [{ name: METRICS_PORT_NAME, containerPort: PROXY_PORTS.prometheus, protocol: 'TCP' }],
    resources: cleanResources(plan.resources),
    securityContext: {
      runAsUser: config.proxy.uid,
      runAsGroup: config.proxy.uid,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: INJECTED_NAMES.identityVolume, mountPath: IDENTITY_MOUNT_PATH, readOnly: true },
      { name: INJECTED_NAMES.proxyConfigVolume, mountPath: PROXY_CONFIG_MOUNT_PATH, readOnly: true },
      noApiTokenMount(),
    ],
    readinessProbe: readyProbe({ periodSeconds: 2, failureThreshold: 30 }),
  };
  if (plan.native) {
    // A native sidecar: started before the app containers, stopped after them, and not
    // counted when a Job decides it has completed.
    c.restartPolicy = 'Always';
    // The kubelet starts the next container only once this probe passes: that is what
    // holds the application until the proxy is ready.
    if (plan.hold) c.startupProbe = readyProbe({ periodSeconds: 1, failureThreshold: 600 });
  } else {
    c.lifecycle = {
      // A regular container placed first: the kubelet runs postStart to completion before
      // it starts the next container, so the app waits until the proxy answers /ready.
      ...(plan.hold ? { postStart: { exec: { command: [...config.proxy.holdCommand] } } } : {}),
      ...drainBeforeStop(plan.drain),
    };
    if (Object.keys(c.lifecycle).length === 0) delete c.lifecycle;
  }
  return c;
}

/**
 * A regular proxy container is sent SIGTERM together with the app, and Envoy exits on it
 * at once: the app's in-flight requests and the calls it makes while shutting down would
 * be cut. A preStop hook runs before the kubelet signals the container, so waiting there
 * for drainSeconds keeps the proxy serving while the app stops (the pod's
 * terminationGracePeriodSeconds bounds it). A native sidecar needs none: the kubelet
 * stops it only after the app containers have exited (KEP-753).
 */
function drainBeforeStop({ seconds, sleepAction }: Drain): Pick<Lifecycle, 'preStop'> {
  if (seconds === 0) return {};
  return { preStop: sleepAction ? { sleep: { seconds } } : { exec: { command: ['sleep', String(seconds)] } } };
}

export function cleanResources(res: { requests: { cpu?: string; memory?: string }; limits: { cpu?: string; memory?: string } }): {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
} {
  const pick = (m: { cpu?: string; memory?: string }) => {
    const out: Record<string, string> = {};
    if (m.cpu !== undefined) out.cpu = m.cpu;
    if (m.memory !== undefined) out.memory = m.memory;
    return out;
  };
  const requests = pick(res.requests);
  const limits = pick(res.limits);
  return {
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}
