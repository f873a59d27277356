// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource): a decimal
// number with an optional binary (Ki…Ei), decimal SI (n u m k M G T P E) or exponent
// (e3, E-2) suffix. Parsed exactly, as a fraction of two integers, so that "is this a
// whole number of bytes" and "does the sum fit under the pod's budget" are answered
// the way the API server answers them, with no floating-point rounding.
//
// On top of the syntax, each resource has rules of its own (checkResourceValue): the
// API server takes "200m" of memory (0.2 bytes) with only a warning, and the container
// then gets a 1-byte limit and never starts.

const QUANTITY = /^\+?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

/** An exact non-negative quantity: `num / den`, in the resource's base unit (bytes, cores). */
export interface Quantity {
  num: bigint;
  den: bigint;
}

const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL_EXPONENT: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

export function isValidQuantity(value: string): boolean {
  return value.length <= 64 && QUANTITY.test(value);
}

/** The quantity `value` stands for, or undefined when it is not one (negative quantities are not). */
export function parseQuantity(value: string): Quantity | undefined {
  if (!isValidQuantity(value)) return undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  const [, number = '', suffix = ''] = m;
  const [whole = '', fraction = ''] = number.split('.');
  let num = BigInt(`${whole}${fraction}` || '0');
  let den = 10n ** BigInt(fraction.length);
  const binary = BINARY[suffix];
  if (binary !== undefined) {
    num *= binary;
  } else {
    const exponent = DECIMAL_EXPONENT[suffix] ?? Number(suffix.slice(1));
    // An exponent past any real quantity (1e999999) is not worth the big integer.
    if (Math.abs(exponent) > 64) return undefined;
    if (exponent >= 0) num *= 10n ** BigInt(exponent);
    else den *= 10n ** BigInt(-exponent);
  }
  return { num, den };
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  const left = a.num * b.den;
  const right = b.num * a.den;
  return left === right ? 0 : left < right ? -1 : 1;
}

/** Whether quantity text `a` is more than `b`; false when either is absent or not a quantity. */
export function exceeds(a: string | undefined, b: string | undefined): boolean {
  const [x, y] = [a === undefined ? undefined : parseQuantity(a), b === undefined ? undefined : parseQuantity(b)];
  return x !== undefined && y !== undefined && compareQuantities(x, y) > 0;
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return { num: a.num * b.den + b.num * a.den, den: a.den * b.den };
}

export const ZERO: Quantity = Object.freeze({ num: 0n, den: 1n });

const isWhole = (q: Quantity): boolean => q.num % q.den === 0n;

/** The value in the resource's usual unit for a message: memory as Gi/Mi/Ki or bytes, CPU as cores or millicores. */
export function formatQuantity(resource: 'cpu' | 'memory', q: Quantity): string {
  if (resource === 'memory') {
    if (!isWhole(q)) return `${Number(q.num) / Number(q.den)}`;
    const bytes = q.num / q.den;
    for (const unit of ['Gi', 'Mi', 'Ki'] as const) {
      const size = BINARY[unit] as bigint;
      if (bytes !== 0n && bytes % size === 0n) return `${bytes / size}${unit}`;
    }
    return String(bytes);
  }
  const milli = q.num * 1000n;
  if (milli % q.den !== 0n) return `${Number(milli) / Number(q.den)}m`;
  const m = milli / q.den;
  return m % 1000n === 0n ? String(m / 1000n) : `${m}m`;
}

// The smallest memory amount taken: a megabyte, decimal or binary (1M or 1Mi).
const MEGABYTE: Quantity = { num: 1_000_000n, den: 1n };
const MILLI: Quantity = { num: 1n, den: 1000n };

/**
 * What is wrong with `value` as an amount of `resource` (a request or a limit of a
 * container splice adds), or undefined when it is a value Kubernetes accepts and that
 * makes sense. The message is written to follow the key and the value, and suggests
 * what the user probably meant.
 *
 * - Any resource: the quantity syntax of k8s.io/apimachinery/pkg/api/resource.
 * - memory: whole bytes (the API server warns "fractional byte value … is invalid" and
 *   the kubelet rounds, Kubernetes issue #79950), and at least a megabyte (1M) unless 0:
 *   a proxy or an init container given a few bytes never starts, so such a value is a
 *   unit typo.
 * - cpu: no binary suffix (Kubernetes reads "100Mi" as 104,857,600 cores), and whole
 *   millicores, the finest amount Kubernetes applies ("Resource units in Kubernetes",
 *   kubernetes.io/docs/concepts/configuration/manage-resources-containers).
 */
export function checkResourceValue(resource: 'cpu' | 'memory', value: string): string | undefined {
  const q = parseQuantity(value);
  const example = resource === 'memory' ? 'such as 64Mi or 1Gi' : 'such as 100m or 0.5';
  if (q === undefined) return `is not a Kubernetes quantity (${example})`;
  const [, written = '', suffix = ''] = QUANTITY.exec(value) ?? [];
  const number = written.replace(/\.$/, '');
  if (resource === 'memory') {
    if (!isWhole(q)) {
      const hint = suffix === 'm' ? `; "m" means thousandths, did you mean "${number}Mi"?` : `; memory is counted in whole bytes (${example})`;
      return `is ${formatQuantity('memory', q)} bytes, not a whole number of bytes${hint}`;
    }
    if (q.num !== 0n && compareQuantities(q, MEGABYTE) < 0) {
      // A bare number or kilobytes is most likely mebibytes with the unit mistyped.
      const hint = ['', 'k', 'Ki'].includes(suffix) ? `did you mean "${number}Mi"?` : `memory is counted in bytes (${example})`;
      const bytes = q.num / q.den;
      return `is only ${bytes} byte${bytes === 1n ? '' : 's'}, too little for any container to start; ${hint}`;
    }
    return undefined;
  }
  if (suffix in BINARY) {
    const hint = suffix === 'Mi' ? `did you mean "${number}m" (millicores)?` : 'CPU is counted in cores (0.5) or millicores (500m)';
    return `uses the binary suffix "${suffix}", which means ${formatQuantity('cpu', q)} cores for CPU; ${hint}`;
  }
  if (q.num !== 0n && compareQuantities(q, MILLI) < 0) {
    return 'is less than 1m, the smallest amount of CPU Kubernetes applies; use at least "1m"';
  }
  if ((q.num * 1000n) % q.den !== 0n) {
    const up = (q.num * 1000n) / q.den + 1n;
    return `is not a whole number of millicores, the finest amount of CPU Kubernetes applies; did you mean "${up}m"?`;
  }
  return undefined;
}
