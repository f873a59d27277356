// `splice iptables` flags → RedirectOptions: the inverse of toArgs(), so the args that
// injection writes into splice-init read back as exactly the options it started from.
import { defaultRedirectOptions, parseCidrs, parseExcludeCidrs, parsePorts, type RedirectOptions, ValueError } from './options.js';

/** A flag list that cannot be read (unknown flag, missing value, a flag given twice); a bad value is a ValueError. */
export class FlagError extends Error {
  override name = 'FlagError';
}

// uid_t is 32 bits and (uid_t)-1 means "no change" to the kernel, so it is not a uid.
const MAX_UID = 4294967294;

function parseInteger(flag: string, value: string, min: number, max: number, what: string): number {
  const n = Number(value);
  if (!/^\d{1,10}$/.test(value) || n < min || n > max) {
    throw new ValueError(flag, value, `is not ${what} (an integer ${min}-${max})`);
  }
  return n;
}

type Setter = (o: RedirectOptions, flag: string, value: string) => void;

const SETTERS: Record<string, Setter> = {
  '--proxy-uid': (o, f, v) => void (o.proxyUid = parseInteger(f, v, 0, MAX_UID, 'a uid')),
  '--inbound-port': (o, f, v) => void (o.inboundPort = parseInteger(f, v, 1, 65535, 'a port')),
  '--outbound-port': (o, f, v) => void (o.outboundPort = parseInteger(f, v, 1, 65535, 'a port')),
  '--include-inbound-ports': (o, f, v) => void (o.includeInboundPorts = parsePorts(f, v, true)),
  '--exclude-inbound-ports': (o, f, v) => void (o.excludeInboundPorts = parsePorts(f, v, false)),
  '--exclude-outbound-ports': (o, f, v) => void (o.excludeOutboundPorts = parsePorts(f, v, false)),
  '--include-outbound-cidrs': (o, f, v) => void (o.includeOutboundCidrs = parseCidrs(f, v)),
  '--exclude-outbound-cidrs': (o, f, v) => void (o.excludeOutboundCidrs = parseExcludeCidrs(f, v)),
  '--ipv6': (o, f, v) => {
    if (v !== 'true' && v !== 'false') throw new ValueError(f, v, 'must be true or false');
    o.ipv6 = v === 'true';
  },
};

export const REDIRECT_FLAGS: readonly string[] = Object.keys(SETTERS);

export interface ParsedFlags {
  options: RedirectOptions;
  /** Which of the caller's value-less switches (e.g. --apply) were given. */
  switches: Set<string>;
  /** The values of the caller's own valued flags (e.g. --bootstrap-file) that were given. */
  values: Map<string, string>;
}

/**
 * Parses `--flag value` and `--flag=value`. Flags not given keep their defaults. An
 * empty value is an empty list. `switches` are value-less flags the caller handles,
 * `valued` flags with a value the caller reads (returned as given, in `values`).
 */
export function parseRedirectFlags(argv: readonly string[], switches: readonly string[] = [], valued: readonly string[] = []): ParsedFlags {
  const options = defaultRedirectOptions();
  const seen = new Set<string>();
  const given = new Set<string>();
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (switches.includes(flag)) {
      if (flag !== arg) throw new FlagError(`${flag} takes no value (got ${JSON.stringify(arg)})`);
      given.add(flag);
      continue;
    }
    const set = SETTERS[flag];
    if (set === undefined && !valued.includes(flag)) {
      throw new FlagError(arg.startsWith('-') ? `unknown flag ${JSON.stringify(flag)}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
    let value: string;
    if (flag !== arg) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      // No value of these flags starts with "--", so "--a --b" is a forgotten value,
      // not a value "--b".
      if (next === undefined || next.startsWith('--')) throw new FlagError(`${flag} needs a value`);
      value = next;
      i++;
    }
    if (seen.has(flag)) throw new FlagError(`${flag} is given more than once`);
    seen.add(flag);
    if (set) set(options, flag, value);
    else values.set(flag, value);
  }
  return { options, switches: given, values };
}
