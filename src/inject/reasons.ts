// Every reason splice can give for a decision, as stable snake_case IDs. The same ID
// appears in the log line, the `reason` label of splice_injection_requests_total,
// admission warnings and `splice explain`; the message says it to a person, with the
// specifics (which namespace, which key, which value).

export const REASON_IDS = [
  // skip: never injected
  'system_namespace',
  'injector_namespace',
  'host_network',
  'already_injected',
  // skip: opted out, or never opted in
  'pod_opted_out',
  'namespace_disabled',
  'not_enabled',
  // skip: another revision of splice injects this namespace (splice.dev/rev)
  'other_revision',
  // skip or deny, per config: Pod Security would reject splice-init
  'pod_security_conflict',
  // skip: the pod runs on nodes that cannot run splice's Linux containers
  'windows_pod',
  // inject
  'pod_opted_in',
  'namespace_enabled',
  'default_policy_enabled',
  // deny
  'invalid_annotation',
  'invalid_pod',
] as const;

export type ReasonId = (typeof REASON_IDS)[number];

export interface Reason {
  id: ReasonId;
  message: string;
}

export function reason(id: ReasonId, message: string): Reason {
  return { id, message };
}
