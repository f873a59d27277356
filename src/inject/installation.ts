// The names of one installation of splice. The default revision (config `revision: ''`)
// has the names CONVENTIONS.md gives (`splice`, `splice-webhook-tls`); another revision
// has its own, suffixed, beside them in the same namespace: its Deployment, Service,
// ConfigMap and MutatingWebhookConfiguration `splice-<revision>`, its serving certificate
// `splice-<revision>-webhook-tls`. Every revision shares the mesh CA (`splice-ca`) and the
// identity Lease, so pods of all revisions are one mesh with one writer of identities.

/**
 * A revision's name: a DNS label of at most 40 characters, so splice-<name>-webhook-tls stays
 * a valid Service and label value.
 */
export const REVISION_NAME = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** The Deployment, Service, ConfigMap and MutatingWebhookConfiguration of a revision. */
export function installationName(revision: string): string {
  return revision === '' ? 'splice' : `splice-${revision}`;
}

/** The Secret holding a revision's webhook serving certificate and its CA. */
export function webhookTlsSecretName(revision: string): string {
  return `${installationName(revision)}-webhook-tls`;
}
