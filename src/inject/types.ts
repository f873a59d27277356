// The shapes the engine works on. They describe only the fields splice reads or
// writes; every other field of the API server's object is carried through untouched
// (hence the index signatures), because the patch is a diff against the raw object
// and anything we failed to model must never come back as a `remove` op.

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ kind?: string; name?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface HttpHeader {
  name: string;
  value: string;
}

export interface HttpGetAction {
  path?: string;
  port: number | string;
  host?: string;
  scheme?: string;
  httpHeaders?: HttpHeader[];
  [key: string]: unknown;
}

/** A probe's handler and timing (Kubernetes' Probe); other fields are carried through. */
export interface Probe {
  httpGet?: HttpGetAction;
  tcpSocket?: { port: number | string; host?: string; [key: string]: unknown };
  grpc?: { port: number; service?: string; [key: string]: unknown };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  [key: string]: unknown;
}

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

/** A lifecycle handler: what the kubelet runs or waits for (Kubernetes' LifecycleHandler). */
export interface LifecycleHandler {
  exec?: { command: string[] };
  sleep?: { seconds: number };
  [key: string]: unknown;
}

export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  resources?: ResourceRequirements;
  securityContext?: SecurityContext;
  volumeMounts?: VolumeMount[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface VolumeProjection {
  secret?: { name: string; optional?: boolean };
  downwardAPI?: { items: Array<{ path: string; fieldRef: { fieldPath: string } }> };
}

export interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; optional?: boolean };
  projected?: { sources: VolumeProjection[]; defaultMode?: number };
  emptyDir?: { medium?: string; sizeLimit?: string };
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  serviceAccountName?: string;
  serviceAccount?: string;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

/** What splice knows about the pod's namespace (from the informer, or given on the CLI). */
export interface NamespaceFacts {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Being deleted: nothing new can be created in it (the identity controller leaves it alone). */
  terminating?: boolean;
}

/** What splice knows about the cluster. `version` is absent when no API server was asked. */
export interface ClusterFacts {
  version?: { major: number; minor: number };
}
