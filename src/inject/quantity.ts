// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): a signed
// decimal number with an optional binary (Ki…Ei), decimal SI (n u m k M G T P E) or
// exponent (e3, E-2) suffix. Checked here so a bad value is refused with the key that
// carried it, instead of by the API server with a message about a container the user
// never wrote.
const QUANTITY = /^[+-]?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

export function isValidQuantity(value: string): boolean {
  return value.length <= 64 && QUANTITY.test(value) && !value.startsWith('-');
}
