// The precedence table of src/inject/decide.ts (and the README), row by row: each case
// is one combination of namespace and pod settings, with the decision and every
// reason ID expected.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG, parseConfig } from '../../../src/inject/config.js';
import { namespaceInjects, namespaceMeshed } from '../../../src/inject/decide.js';
import { injectPod } from '../../../src/inject/engine.js';
import type { ReasonId } from '../../../src/inject/reasons.js';
import type { NamespaceFacts, Pod } from '../../../src/inject/types.js';
import { DISABLED, ENABLED, ns, pod, withApp, withSpec } from '../../support/pods.js';

const ON = parseConfig({ defaultPolicy: 'enabled' });
const CANARY = parseConfig({ revision: 'canary' });
const optIn = (how: 'annotation' | 'label', value = 'true') =>
  how === 'annotation' ? pod({ annotations: { 'splice.dev/inject': value } }) : pod({ labels: { 'splice.dev/inject': value } });
const optOut = (how: 'annotation' | 'label', value = 'false') => optIn(how, value);
const injected = pod({ annotations: { 'splice.dev/status': '{}' } });
const withProxy = pod({ containers: ['app', 'splice-proxy'] });
const withNativeProxy = pod({ initContainers: ['splice-proxy'] });
const windows = withSpec(pod(), { os: { name: 'windows' } });
const requiredOs = (operator: string, values: string[]) => ({
  nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator, values }] }] } },
});
const budgeted = withApp(withSpec(pod(), { resources: { requests: { cpu: '500m', memory: '512Mi' } } }), { resources: { requests: { cpu: '500m', memory: '512Mi' } } });

interface Row {
  name: string;
  pod: Pod;
  ns: NamespaceFacts;
  config?: typeof DEFAULT_CONFIG;
  result: 'inject' | 'skip' | 'deny';
  reasons: ReasonId[];
  /** Kubernetes minor version (default: none known, so native sidecars). */
  minor?: number;
  /** Each must match one warning. */
  warnings?: RegExp[];
}

const rows: Row[] = [
  // 1. never
  { name: 'kube-system even when labeled enabled', pod: pod(), ns: ns('kube-system', ENABLED), result: 'skip', reasons: ['system_namespace'] },
  { name: 'kube-public', pod: pod(), ns: ns('kube-public', ENABLED), result: 'skip', reasons: ['system_namespace'] },
  { name: 'kube-node-lease', pod: pod(), ns: ns('kube-node-lease'), config: ON, result: 'skip', reasons: ['system_namespace'] },
  { name: 'splice-system even with a pod opt-in', pod: optIn('annotation'), ns: ns('splice-system', ENABLED), result: 'skip', reasons: ['injector_namespace'] },
  { name: 'a configured injector namespace', pod: pod(), ns: ns('mesh', ENABLED), config: parseConfig({ injectorNamespace: 'mesh' }), result: 'skip', reasons: ['injector_namespace'] },
  { name: 'hostNetwork in an enabled namespace', pod: pod({ hostNetwork: true }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['host_network'] },
  { name: 'hostNetwork with a pod opt-in', pod: { ...optIn('annotation'), spec: { ...pod().spec, hostNetwork: true } }, ns: ns('shop'), result: 'skip', reasons: ['host_network'] },
  { name: 'hostNetwork: false is an ordinary pod', pod: pod({ hostNetwork: false }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'already injected (status annotation)', pod: injected, ns: ns('shop', ENABLED), result: 'skip', reasons: ['already_injected'] },
  { name: 'already injected (splice-proxy container)', pod: withProxy, ns: ns('shop', ENABLED), result: 'skip', reasons: ['already_injected'] },
  { name: 'already injected (native splice-proxy)', pod: withNativeProxy, ns: ns('shop', ENABLED), result: 'skip', reasons: ['already_injected'] },
  { name: 'every never-rule at once is reported', pod: { ...injected, spec: { ...injected.spec, hostNetwork: true } }, ns: ns('kube-system', ENABLED), result: 'skip', reasons: ['system_namespace', 'host_network', 'already_injected'] },
  // 2. pod opt-out
  { name: 'opt-out annotation "false" in an enabled namespace', pod: optOut('annotation'), ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out annotation "disabled"', pod: optOut('annotation', 'disabled'), ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out label "false"', pod: optOut('label'), ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out label "disabled"', pod: optOut('label', 'disabled'), ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out beats the default policy', pod: optOut('annotation'), ns: ns('shop'), config: ON, result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out annotation beats an opt-in label', pod: pod({ annotations: { 'splice.dev/inject': 'false' }, labels: { 'splice.dev/inject': 'true' } }), ns: ns('shop'), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out label beats an opt-in annotation', pod: pod({ annotations: { 'splice.dev/inject': 'true' }, labels: { 'splice.dev/inject': 'disabled' } }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'opt-out in a disabled namespace reports both', pod: optOut('annotation'), ns: ns('shop', DISABLED), result: 'skip', reasons: ['pod_opted_out', 'namespace_disabled'] },
  // 3. namespace disabled
  { name: 'disabled namespace', pod: pod(), ns: ns('shop', DISABLED), result: 'skip', reasons: ['namespace_disabled'] },
  { name: 'disabled namespace: pod opt-in annotation cannot override', pod: optIn('annotation'), ns: ns('shop', DISABLED), result: 'skip', reasons: ['namespace_disabled'] },
  { name: 'disabled namespace: pod opt-in label cannot override', pod: optIn('label', 'enabled'), ns: ns('shop', DISABLED), result: 'skip', reasons: ['namespace_disabled'] },
  { name: 'disabled namespace beats the default policy', pod: pod(), ns: ns('shop', DISABLED), config: ON, result: 'skip', reasons: ['namespace_disabled'] },
  // 4. pod opt-in in an unlabeled namespace
  { name: 'opt-in annotation "true", unlabeled namespace', pod: optIn('annotation'), ns: ns('shop'), result: 'inject', reasons: ['pod_opted_in'] },
  { name: 'opt-in annotation "enabled"', pod: optIn('annotation', 'enabled'), ns: ns('shop'), result: 'inject', reasons: ['pod_opted_in'] },
  { name: 'opt-in label "true"', pod: optIn('label'), ns: ns('shop'), result: 'inject', reasons: ['pod_opted_in'] },
  { name: 'opt-in label "enabled"', pod: optIn('label', 'enabled'), ns: ns('shop'), result: 'inject', reasons: ['pod_opted_in'] },
  // 5. namespace enabled
  { name: 'enabled namespace, plain pod', pod: pod(), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'enabled namespace and pod opt-in: both reasons', pod: optIn('annotation'), ns: ns('shop', ENABLED), result: 'inject', reasons: ['pod_opted_in', 'namespace_enabled'] },
  { name: 'an invalid namespace label counts as no label', pod: pod(), ns: ns('shop', { 'splice.dev/inject': 'yes' }), result: 'skip', reasons: ['not_enabled'] },
  // 6. default policy
  { name: 'unlabeled namespace, default policy off', pod: pod(), ns: ns('shop'), result: 'skip', reasons: ['not_enabled'] },
  { name: 'unlabeled namespace, default policy on', pod: pod(), ns: ns('shop'), config: ON, result: 'inject', reasons: ['default_policy_enabled'] },
  { name: 'default policy on, pod opt-in gives its own reason', pod: optIn('label'), ns: ns('shop'), config: ON, result: 'inject', reasons: ['pod_opted_in'] },
  { name: 'a "default" namespace is not special', pod: pod(), ns: ns('default', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  // invalid values of the control key itself
  { name: 'opt-in annotation with a value splice does not know', pod: optIn('annotation', 'yes'), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'label with a value splice does not know', pod: optIn('label', 'TRUE'), ns: ns('shop'), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'an unknown value in kube-system is still never touched', pod: optIn('annotation', 'yes'), ns: ns('kube-system'), result: 'skip', reasons: ['system_namespace'] },
  // Pod Security
  { name: 'restricted namespace: skipped by default', pod: pod(), ns: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/enforce': 'restricted' }), result: 'skip', reasons: ['pod_security_conflict'] },
  { name: 'baseline namespace with podSecurityConflict: deny', pod: pod(), ns: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/enforce': 'baseline' }), config: parseConfig({ podSecurityConflict: 'deny' }), result: 'deny', reasons: ['pod_security_conflict'] },
  { name: 'privileged namespace is fine', pod: pod(), ns: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/enforce': 'privileged' }), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'restricted namespace, opted-out pod: the opt-out is the reason', pod: optOut('annotation'), ns: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/enforce': 'restricted' }), result: 'skip', reasons: ['pod_opted_out'] },
  // Pods that run on Windows nodes: left alone, whichever way they say it
  { name: 'spec.os.name windows', pod: windows, ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'], warnings: [/^pod not meshed: spec\.os\.name is "windows"/] },
  { name: 'nodeSelector kubernetes.io/os: windows', pod: withSpec(pod(), { nodeSelector: { 'kubernetes.io/os': 'windows' } }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'nodeSelector beta.kubernetes.io/os: windows', pod: withSpec(pod(), { nodeSelector: { 'beta.kubernetes.io/os': 'windows' } }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'required node affinity on windows only', pod: withSpec(pod(), { affinity: requiredOs('In', ['windows']) }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'required node affinity NotIn linux', pod: withSpec(pod(), { affinity: requiredOs('NotIn', ['linux']) }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'required node affinity: kubernetes.io/os DoesNotExist', pod: withSpec(pod(), { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'DoesNotExist' }] }] } } } }), ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'required node affinity on another key only', pod: withSpec(pod(), { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'example.com/pool', operator: 'In', values: ['a'] }] }] } } } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'required node affinity that allows linux', pod: withSpec(pod(), { affinity: requiredOs('In', ['linux', 'windows']) }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'nodeSelector kubernetes.io/os: linux', pod: withSpec(pod(), { nodeSelector: { 'kubernetes.io/os': 'linux' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'a Windows pod with an invalid override is still only left alone', pod: { ...windows, metadata: { annotations: { 'splice.dev/proxy-cpu': 'lots' } } }, ns: ns('shop', ENABLED), result: 'skip', reasons: ['windows_pod'] },
  { name: 'an opted-out Windows pod: the opt-out is the reason', pod: { ...windows, metadata: { annotations: { 'splice.dev/inject': 'false' } } }, ns: ns('shop', ENABLED), result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'a Windows pod in an unlabeled namespace: not enabled', pod: windows, ns: ns('shop'), result: 'skip', reasons: ['not_enabled'] },
  // What the proxy needs, already used by the pod
  { name: 'app declares the outbound capture port', pod: withApp(pod(), { ports: [{ containerPort: 15001 }] }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod'] },
  { name: 'init container declares the admin port', pod: withSpec(pod(), { initContainers: [{ name: 'setup', image: 'x', ports: [{ containerPort: 15000, protocol: 'TCP' }] }] }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod'] },
  { name: 'a proxy port over UDP is no collision', pod: withApp(pod(), { ports: [{ containerPort: 15090, protocol: 'UDP' }] }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'a port named splice-metrics', pod: withApp(pod(), { ports: [{ name: 'splice-metrics', containerPort: 9090 }] }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod'] },
  { name: 'the pod runs as the proxy uid', pod: withSpec(pod(), { securityContext: { runAsUser: 1337 } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod'] },
  { name: 'the app runs as the proxy uid', pod: withApp(pod(), { securityContext: { runAsUser: 1337 } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod'] },
  { name: 'the pod runs as the proxy uid, the app overrides it', pod: withApp(withSpec(pod(), { securityContext: { runAsUser: 1337 } }), { securityContext: { runAsUser: 1000 } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'a configured proxy uid is the one checked', pod: withSpec(pod(), { securityContext: { runAsUser: 1337 } }), ns: ns('shop', ENABLED), config: parseConfig({ proxy: { uid: 2000 } }), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'a port collision and an invalid override are reported together', pod: withApp(pod({ annotations: { 'splice.dev/proxy-cpu': 'lots' } }), { ports: [{ containerPort: 15006 }] }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_pod', 'invalid_annotation'] },
  // Resource values Kubernetes would take but that make no sense
  { name: 'memory "200m" (0.2 bytes)', pod: pod({ annotations: { 'splice.dev/proxy-memory-limit': '200m' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'CPU with a binary suffix', pod: pod({ annotations: { 'splice.dev/proxy-cpu': '100Mi' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'memory "0.125Gi" is whole bytes', pod: pod({ annotations: { 'splice.dev/proxy-memory': '0.125Gi' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'a resource value with spaces around it, as the API server trims them', pod: pod({ annotations: { 'splice.dev/proxy-memory': ' 128Mi ' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'native sidecars forced on Kubernetes 1.27', pod: pod({ annotations: { 'splice.dev/native-sidecar': 'true' } }), ns: ns('shop', ENABLED), minor: 27, result: 'inject', reasons: ['namespace_enabled'], warnings: [/older than native sidecars/] },
  { name: 'an inherited memory of 200 bytes', pod: pod(), ns: ns('shop', ENABLED, { 'splice.dev/proxy-memory': '200' }), result: 'deny', reasons: ['invalid_annotation'] },
  // Pod-level resources
  { name: 'pod-level requests equal to the app\'s', pod: budgeted, ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'pod-level budget with a proxy share of the pod\'s own that does not fit', pod: { ...budgeted, metadata: { annotations: { 'splice.dev/proxy-memory': '64Mi' } } }, ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'pod-level budget with an inherited proxy share: shared, not refused', pod: budgeted, ns: ns('shop', ENABLED, { 'splice.dev/proxy-memory': '64Mi' }), result: 'inject', reasons: ['namespace_enabled'] },
  // Without native sidecars: pods that would break, each with its warning
  { name: 'Kubernetes 1.28, restartPolicy OnFailure', pod: withSpec(pod(), { restartPolicy: 'OnFailure' }), ns: ns('shop', ENABLED), minor: 28, result: 'inject', reasons: ['namespace_enabled'], warnings: [/this pod \(restartPolicy: OnFailure\) will not complete/] },
  { name: 'Kubernetes 1.28, restartPolicy Never with hold', pod: withSpec(pod(), { restartPolicy: 'Never' }), ns: ns('shop', ENABLED), minor: 28, result: 'inject', reasons: ['namespace_enabled'], warnings: [/will not complete/, /never started again/] },
  { name: 'native-sidecar "false", an init container that needs the network', pod: withSpec(pod({ annotations: { 'splice.dev/native-sidecar': 'false' } }), { initContainers: [{ name: 'migrate', image: 'x' }] }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'], warnings: [/^init container migrate starts before splice-proxy/] },
  { name: 'regular proxy, a grace period shorter than the drain', pod: withSpec(pod({ annotations: { 'splice.dev/native-sidecar': 'false' } }), { terminationGracePeriodSeconds: 2 }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'], warnings: [/^splice-proxy's drain before it stops is cut to 2s, this pod's terminationGracePeriodSeconds, short of proxy\.drainSeconds \(5s\)/] },
  // Inbound policy and allowed callers: every value, valid and not, and where it came from
  { name: 'inbound-policy "strict"', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'strict' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'inbound-policy "permissive"', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'permissive' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'inbound-policy "STRICT" (values are case-sensitive)', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'STRICT' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'inbound-policy "" (empty)', pod: pod({ annotations: { 'splice.dev/inbound-policy': '' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'inbound-policy inherited "strict"', pod: pod(), ns: ns('shop', ENABLED, { 'splice.dev/inbound-policy': 'strict' }), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'inbound-policy inherited "closed"', pod: pod(), ns: ns('shop', ENABLED, { 'splice.dev/inbound-policy': 'closed' }), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from <ns>/<sa>', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'allow-from <ns>/*, a SPIFFE ID and spaces', pod: pod({ annotations: { 'splice.dev/allow-from': 'billing/* , spiffe://cluster.local/ns/ops/sa/prober' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'allow-from with "strict" said as well', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend', 'splice.dev/inbound-policy': 'strict' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'allow-from with "permissive" said as well: a contradiction', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend', 'splice.dev/inbound-policy': 'permissive' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from on the pod, "permissive" inherited: the pod\'s own wins', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/frontend' } }), ns: ns('shop', ENABLED, { 'splice.dev/inbound-policy': 'permissive' }), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'allow-from inherited, "permissive" on the pod: the pod\'s own wins, with a warning', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'permissive' } }), ns: ns('shop', ENABLED, { 'splice.dev/allow-from': 'shop/frontend' }), result: 'inject', reasons: ['namespace_enabled'], warnings: [/^annotation splice\.dev\/allow-from \(inherited from namespace shop\) is not applied: the pod's own splice\.dev\/inbound-policy is "permissive"$/] },
  { name: 'allow-from and "permissive" both on the namespace: a contradiction', pod: pod(), ns: ns('shop', ENABLED, { 'splice.dev/allow-from': 'shop/frontend', 'splice.dev/inbound-policy': 'permissive' }), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'strict with an include list: a warning that other ports are not covered', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'strict', 'splice.dev/include-inbound-ports': '8080' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'], warnings: [/^the strict inbound policy covers ports 8080 only/] },
  { name: 'allow-from inherited, "strict" on the pod', pod: pod({ annotations: { 'splice.dev/inbound-policy': 'strict' } }), ns: ns('shop', ENABLED, { 'splice.dev/allow-from': 'shop/*' }), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'allow-from a namespace alone', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from an empty list', pod: pod({ annotations: { 'splice.dev/allow-from': ' , ' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from with an empty entry', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/a,,shop/b' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from a service account that is no DNS name', pod: pod({ annotations: { 'splice.dev/allow-from': 'shop/Front_End' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from a SPIFFE ID of another trust domain', pod: pod({ annotations: { 'splice.dev/allow-from': 'spiffe://other.example/ns/shop/sa/web' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'allow-from a malformed SPIFFE ID', pod: pod({ annotations: { 'splice.dev/allow-from': 'spiffe://cluster.local/ns//sa/x' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'rewrite-probes "false"', pod: pod({ annotations: { 'splice.dev/rewrite-probes': 'false' } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'rewrite-probes "no"', pod: pod({ annotations: { 'splice.dev/rewrite-probes': 'no' } }), ns: ns('shop', ENABLED), result: 'deny', reasons: ['invalid_annotation'] },
  { name: 'strict, probes not rewritten: each probe that will be refused is a warning', pod: withApp(pod({ annotations: { 'splice.dev/inbound-policy': 'strict', 'splice.dev/rewrite-probes': 'false' } }), { readinessProbe: { tcpSocket: { port: 8080 } } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'], warnings: [/^probe left as it was, and the strict inbound policy will refuse it: readinessProbe of container app/] },
  { name: 'strict, a probe of a path that cannot be forwarded: a warning', pod: withApp(pod({ annotations: { 'splice.dev/inbound-policy': 'strict' } }), { livenessProbe: { httpGet: { path: '/a b', port: 80 } } }), ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'], warnings: [/livenessProbe of container app: path "\/a b" cannot be forwarded as it is/] },
  // Revisions: a namespace labeled splice.dev/rev=<name> belongs to that revision, one without to the default
  { name: 'default revision, a namespace of revision canary', pod: pod(), ns: ns('shop', { ...ENABLED, 'splice.dev/rev': 'canary' }), result: 'skip', reasons: ['other_revision'] },
  { name: 'revision canary, its own namespace (no inject label needed)', pod: pod(), ns: ns('shop', { 'splice.dev/rev': 'canary' }), config: CANARY, result: 'inject', reasons: ['namespace_enabled'] },
  { name: 'revision canary, a namespace of the default revision', pod: pod(), ns: ns('shop', ENABLED), config: CANARY, result: 'skip', reasons: ['other_revision'] },
  { name: 'revision canary, an opted-in pod in an unlabeled namespace: the default revision\'s', pod: optIn('annotation'), ns: ns('shop'), config: CANARY, result: 'skip', reasons: ['other_revision'] },
  { name: 'revision canary, its own namespace disabled', pod: pod(), ns: ns('shop', { 'splice.dev/rev': 'canary', 'splice.dev/inject': 'disabled' }), config: CANARY, result: 'skip', reasons: ['namespace_disabled'] },
  { name: 'revision canary, its own namespace, a pod that opts out', pod: optOut('annotation'), ns: ns('shop', { 'splice.dev/rev': 'canary' }), config: CANARY, result: 'skip', reasons: ['pod_opted_out'] },
  { name: 'an empty splice.dev/rev label names no revision: the default one leaves it too', pod: pod(), ns: ns('shop', { ...ENABLED, 'splice.dev/rev': '' }), result: 'skip', reasons: ['other_revision'] },
  { name: 'revision canary, a namespace of revision stable', pod: pod(), ns: ns('shop', { 'splice.dev/rev': 'stable' }), config: CANARY, result: 'skip', reasons: ['other_revision'] },
  // null maps and lists
  { name: 'null annotations, labels, init containers and volumes', pod: { ...withSpec(pod(), { initContainers: null, volumes: null }), metadata: { name: 'web', annotations: null, labels: null } } as unknown as Pod, ns: ns('shop', ENABLED), result: 'inject', reasons: ['namespace_enabled'] },
];

describe('decision precedence', () => {
  for (const row of rows) {
    test(row.name, () => {
      const cluster = row.minor === undefined ? {} : { version: { major: 1, minor: row.minor } };
      const d = injectPod({ pod: row.pod, namespace: row.ns, cluster, config: row.config ?? DEFAULT_CONFIG });
      assert.equal(d.result, row.result, JSON.stringify(d.reasons));
      assert.deepEqual(d.reasons.map((r) => r.id), row.reasons);
      for (const w of row.warnings ?? []) assert.ok(d.warnings.some((x) => w.test(x)), `no warning matches ${w}: ${d.warnings.join(' | ')}`);
      for (const r of d.reasons) assert.ok(r.message.length > 10, `reason ${r.id} has a readable message`);
    });
  }
  test('the table has at least 60 rows', () => assert.ok(rows.length >= 60));
});

describe('decision messages', () => {
  test('a refusal of the control key names the key and the value', () => {
    const d = injectPod({ pod: optIn('annotation', 'yes'), namespace: ns('shop', ENABLED), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'deny');
    if (d.result === 'deny') assert.match(d.message, /splice\.dev\/inject: "yes"/);
  });
  test('an invalid namespace label is reported as a warning', () => {
    const d = injectPod({ pod: pod(), namespace: ns('shop', { 'splice.dev/inject': 'yes' }), cluster: {}, config: DEFAULT_CONFIG });
    assert.ok(d.warnings.some((w) => w.includes('"yes"') && w.includes('shop')), d.warnings.join());
  });
  test('a Pod Security skip tells the user why in a warning', () => {
    const d = injectPod({ pod: pod(), namespace: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/enforce': 'restricted' }), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'skip');
    assert.ok(d.warnings.some((w) => w.includes('restricted') && w.includes('NET_ADMIN')), d.warnings.join());
  });
  test('a namespace that only warns at restricted is injected, with a warning', () => {
    const d = injectPod({ pod: pod(), namespace: ns('shop', { ...ENABLED, 'pod-security.kubernetes.io/warn': 'restricted' }), cluster: {}, config: DEFAULT_CONFIG });
    assert.equal(d.result, 'inject');
    assert.ok(d.warnings.some((w) => w.includes('warns') && w.includes('restricted')), d.warnings.join());
  });
});

describe('revisions: which namespaces each one meshes', () => {
  test('namespaceInjects is per revision; namespaceMeshed, for the identity controller, any revision\'s', () => {
    const canaryNs = ns('shop', { 'splice.dev/rev': 'canary' });
    assert.equal(namespaceInjects(canaryNs, DEFAULT_CONFIG), false);
    assert.equal(namespaceInjects(canaryNs, CANARY), true);
    assert.equal(namespaceMeshed(canaryNs, DEFAULT_CONFIG), true);
    assert.equal(namespaceMeshed(ns('shop', ENABLED), CANARY), true);
    assert.equal(namespaceMeshed(ns('shop', { 'splice.dev/rev': 'canary', 'splice.dev/inject': 'disabled' }), DEFAULT_CONFIG), false);
    assert.equal(namespaceMeshed(ns('shop'), CANARY), false);
  });
  test('a revision name is a DNS label of at most 40 characters', () => {
    assert.throws(() => parseConfig({ revision: 'Canary' }), /revision: must be "" \(the default revision\) or a DNS label/);
    assert.throws(() => parseConfig({ revision: 'a'.repeat(41) }), /revision/);
  });
});

describe('namespaceInjects: the namespaces whose service accounts get identities', () => {
  // It must agree with the decision for a pod that says nothing, in every namespace kind
  // and under both default policies: the controller and the webhook may never disagree
  // on which namespaces are in the mesh.
  const namespaces: NamespaceFacts[] = [
    ns('shop', ENABLED),
    ns('shop', DISABLED),
    ns('shop', {}),
    ns('shop', { 'splice.dev/inject': 'typo' }),
    ns('kube-system', ENABLED),
    ns('kube-public', {}),
    ns('kube-node-lease', ENABLED),
    ns('splice-system', ENABLED),
  ];
  for (const config of [DEFAULT_CONFIG, ON]) {
    for (const n of namespaces) {
      test(`${n.name} ${JSON.stringify(n.labels)}, defaultPolicy ${config.defaultPolicy}`, () => {
        const d = injectPod({ pod: pod(), namespace: n, cluster: {}, config });
        assert.equal(namespaceInjects(n, config), d.result === 'inject');
      });
    }
  }
});

describe('draining a regular proxy before it stops', () => {
  const inject = (p: Pod, minor: number | undefined, config = DEFAULT_CONFIG) => {
    const d = injectPod({ pod: p, namespace: ns('shop', ENABLED), cluster: minor === undefined ? {} : { version: { major: 1, minor } }, config });
    assert.equal(d.result, 'inject');
    if (d.result !== 'inject') throw new Error('not injected');
    const all = [...(d.pod.spec.initContainers ?? []), ...d.pod.spec.containers];
    return { proxy: all.find((c) => c.name === 'splice-proxy'), warnings: d.warnings };
  };
  const regular = pod({ annotations: { 'splice.dev/native-sidecar': 'false' } });

  test('from Kubernetes 1.30, a preStop sleep of proxy.drainSeconds: no binary needed in the image', () => {
    assert.deepEqual(inject(regular, 30).proxy?.lifecycle?.preStop, { sleep: { seconds: 5 } });
    assert.deepEqual(inject(regular, undefined).proxy?.lifecycle?.preStop, { sleep: { seconds: 5 } }, 'no API server asked: a supported Kubernetes');
  });

  test('before 1.30 the sleep action does not exist: the image\'s sleep is run', () => {
    const { proxy } = inject(pod(), 28);
    assert.equal(proxy?.restartPolicy, undefined, 'a regular container on 1.28');
    assert.deepEqual(proxy?.lifecycle?.preStop, { exec: { command: ['sleep', '5'] } });
    assert.ok(proxy?.lifecycle?.postStart, 'the hold hook is still there');
  });

  test('drainSeconds is followed, and 0 means no preStop at all', () => {
    assert.deepEqual(inject(regular, 31, parseConfig({ proxy: { drainSeconds: 20 } })).proxy?.lifecycle?.preStop, { sleep: { seconds: 20 } });
    const none = inject(regular, 31, parseConfig({ proxy: { drainSeconds: 0, holdApplication: false } })).proxy;
    assert.equal(none?.lifecycle, undefined);
  });

  test('a native sidecar has none: the kubelet stops it after the app', () => {
    const { proxy } = inject(pod(), 31);
    assert.equal(proxy?.restartPolicy, 'Always');
    assert.equal(proxy?.lifecycle, undefined);
  });

  test('never longer than the grace period, which the API server requires of a sleep action', () => {
    assert.deepEqual(inject(withSpec(regular, { terminationGracePeriodSeconds: 2 }), 31).proxy?.lifecycle?.preStop, { sleep: { seconds: 2 } });
    const long = parseConfig({ proxy: { drainSeconds: 60 } });
    const unset = inject(regular, 31, long);
    assert.deepEqual(unset.proxy?.lifecycle?.preStop, { sleep: { seconds: 30 } }, 'unset: the default of 30');
    assert.ok(unset.warnings.some((w) => /cut to 30s, this pod's terminationGracePeriodSeconds \(the default\), short of proxy\.drainSeconds \(60s\)/.test(w)), unset.warnings.join(' | '));
    const zero = inject(withSpec(regular, { terminationGracePeriodSeconds: 0 }), 31).proxy;
    assert.equal(zero?.lifecycle?.preStop, undefined, 'no grace period: no hook (a zero-second sleep needs a newer feature gate)');
  });

  test('a grace period at least as long as the drain: no warning', () => {
    const { warnings } = inject(withSpec(regular, { terminationGracePeriodSeconds: 5 }), 31);
    assert.equal(warnings.some((w) => w.includes('terminationGracePeriodSeconds')), false, warnings.join(' | '));
  });
});
