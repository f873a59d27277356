// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): a signed
// decimal number with an optional binary (Ki…Ei), decimal SI (n u m k M G T P E) or
// exponent (e3, E-2) suffix. Checked here so a bad value is refused with the key that
// carried it, instead of by the API server with a message about a container the user
// never wrote.
const QUANTITY = /^[+-]?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

export function isValidQuantity(value: string): boolean {
  return value.length <= 64 && QUANTITY.test(value) && !value.startsWith('-');
}

const SUFFIX: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** The quantity's value as a number, close enough to compare a request with a limit. */
export function quantityValue(value: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(.*)$/.exec(value);
  if (!m) return NaN;
  const [, num = '', suffix = ''] = m;
  if (/^[eE]/.test(suffix)) return Number(num) * 10 ** Number(suffix.slice(1));
  const factor = SUFFIX[suffix];
  return factor === undefined ? NaN : Number(num) * factor;
}
