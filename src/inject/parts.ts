// What splice adds to a pod, apart from where it goes: splice-init, splice-proxy, their
// volumes and the annotations that describe them. They depend on the namespace,
// the service account, the plan (native or not, holding the app or not, the probes the
// proxy answers for), the overrides and the config, and on nothing else of the pod's. So every replica of
// a workload gets the very same parts: they are built once, deep-frozen and shared
// (memo.ts, frozen.ts), and so is their JSON text in the patch.

import type { Config } from './config.js';
import { deepFreeze } from './frozen.js';
import { noApiTokenVolume } from './api-token.js';
import { initContainer, initRunVolume, proxyConfigVolume } from './init.js';
import { INJECTED_NAMES, KEYS, identitySecretName } from './keys.js';
import { BoundedMemo, getOrCreate } from './memo.js';
import type { Overrides } from './overrides.js';
import { initResourcesWithin, proxyResourcesWithin, type BudgetedResource } from './pod-resources.js';
import { proxyContainer, type Drain } from './proxy.js';
import { SDS_FILES } from './bootstrap.js';
import { proxyTexts } from './proxy-texts.js';
import type { AppProbe } from './probes.js';
import type { Container, Volume } from './types.js';
import { SPLICE_VERSION } from '../version.js';
import { partsHash, type InjectionStatus } from './status.js';

export interface PartsPlan {
  namespace: string;
  serviceAccount: string;
  native: boolean;
  hold: boolean;
  /** The resources the pod budgets at pod level, which splice's containers share (pod-resources.ts). */
  budgeted: readonly BudgetedResource[];
  /** A regular proxy's preStop drain (regular-proxy.ts preStopDrain). */
  drain: Drain;
  /** The app's probes the proxy's health listener answers for (probes.ts). */
  appProbes: readonly AppProbe[];
}

export interface InjectedParts {
  init: Container;
  proxy: Container;
  volumes: readonly Volume[];
  /** Set on the pod over whatever it had: the SDS files' texts. */
  annotations: Readonly<Record<string, string>>;
  /** Set on the pod over whatever it had: splice.dev/injected. */
  labels: Readonly<Record<string, string>>;
  /** splice.dev/status but for what depends on the pod's own shape (render.ts adds that). */
  status: Readonly<InjectionStatus>;
}

// One memo per config: configs are deep-frozen and replaced, never changed, so the
// config object stands for its contents. Overrides objects are frozen and shared too
// (one per set of annotation values, see overrides.ts), so the key names one by a
// number instead of spelling it out.
const memos = new WeakMap<Config, BoundedMemo<InjectedParts>>();
const overrideIds = new WeakMap<Overrides, number>();
let nextOverrideId = 0;

// A workload is one key; 1,024 keys are a few MB at most (the parts and their JSON text,
// ~4 KB each).
const MEMO_LIMIT = 1024;

export function injectedParts(plan: PartsPlan, overrides: Overrides, config: Config): InjectedParts {
  const memo = getOrCreate(memos, config, () => new BoundedMemo<InjectedParts>(MEMO_LIMIT));
  const id = getOrCreate(overrideIds, overrides, () => nextOverrideId++);
  const { namespace, serviceAccount, native, hold, budgeted, drain, appProbes } = plan;
  return memo.get(`${id} ${JSON.stringify([namespace, serviceAccount, native, hold, budgeted, drain, appProbes])}`, () => deepFreeze(build(plan, overrides, config)));
}

function build(plan: PartsPlan, overrides: Overrides, config: Config): InjectedParts {
  const texts = proxyTexts(plan.namespace, plan.serviceAccount, config, {
    inboundPolicy: overrides.inboundPolicy,
    allowFrom: overrides.allowFrom,
    appProbes: plan.appProbes,
  });
  const parts = {
    init: initContainer(overrides, config, initResourcesWithin(plan.budgeted, config.init.resources), texts.bootstrapInput),
    proxy: proxyContainer(
      { native: plan.native, hold: plan.hold, resources: proxyResourcesWithin(plan.budgeted, overrides), drain: plan.drain },
      overrides,
      config,
    ),
    volumes: [identityVolume(plan.serviceAccount), initRunVolume(), proxyConfigVolume(), noApiTokenVolume()],
    annotations: {
      [KEYS.sdsCertificate]: texts.sdsCertificate,
      [KEYS.sdsTrustBundle]: texts.sdsTrustBundle,
    },
    labels: { [KEYS.injected]: 'true' },
  };
  const status: InjectionStatus = {
    version: SPLICE_VERSION,
    ...(config.revision ? { revision: config.revision } : {}),
    containers: plan.native ? [] : [INJECTED_NAMES.proxy],
    initContainers: plan.native ? [INJECTED_NAMES.init, INJECTED_NAMES.proxy] : [INJECTED_NAMES.init],
    volumes: parts.volumes.map((v) => v.name),
    // Where the proxy sits (native or not) is in the containers' fields already.
    hash: partsHash(parts),
  };
  return { ...parts, status };
}

// Envoy reloads certificates only when they come through SDS, and file-based SDS needs
// two small JSON files beside the PEM files. The identity Secret carries only the PEM
// files (whoever issues it), so the volume projects the Secret together with the two
// SDS files, taken from pod annotations through the downward API: one directory, one
// atomic symlink swap when the kubelet refreshes either, and no agent in the pod.
function identityVolume(serviceAccount: string): Volume {
  const annotation = (key: string) => ({ fieldPath: `metadata.annotations['${key}']` });
  return {
    name: INJECTED_NAMES.identityVolume,
    projected: {
      sources: [
        { secret: { name: identitySecretName(serviceAccount) } },
        {
          downwardAPI: {
            items: [
              { path: SDS_FILES.certificate, fieldRef: annotation(KEYS.sdsCertificate) },
              { path: SDS_FILES.trustBundle, fieldRef: annotation(KEYS.sdsTrustBundle) },
            ],
          },
        },
      ],
    },
  };
}
