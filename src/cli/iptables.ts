// `splice iptables`: prints the traffic-redirect rules, or with --apply installs them
// (what the splice-init container runs in the pod's network namespace).
import { ApplyError, applyRules } from '../iptables/apply.js';
import { FlagError, parseRedirectFlags, type ParsedFlags } from '../iptables/flags.js';
import { ValueError, defaultRedirectOptions, toArgs } from '../iptables/options.js';
import { renderRules } from '../iptables/rules.js';
import type { CliIO } from './io.js';

const USAGE = `Usage: splice iptables [--apply] [flags]

Renders the nat-table rules that send a pod's TCP traffic through the proxy. Without
--apply both rule sets are printed; with --apply they replace the nat table of the
current network namespace (IPv6 is skipped, with the reason, with --ipv6 false or where
the namespace has no IPv6).

  --apply                          install the rules (needs NET_ADMIN)
  --proxy-uid N                    traffic from this uid is never redirected
  --inbound-port N                 inbound capture port
  --outbound-port N                outbound capture port
  --include-inbound-ports L        ports to capture inbound, "*" for all, "" for none
  --exclude-inbound-ports L        ports never captured inbound
  --exclude-outbound-ports L       destination ports never captured outbound
  --include-outbound-cidrs L       destinations to capture, "*" for all, "" for none
  --exclude-outbound-cidrs L       destinations never captured
  --ipv6 true|false                redirect IPv6 too (only where the proxy listens on ::)
  --help, -h                       this text

L is a comma-separated list; "--flag=value" works too. Defaults:
  ${toArgs(defaultRedirectOptions()).map((a) => (a === '' || a === '*' ? JSON.stringify(a) : a)).join(' ')}
`;

export async function iptablesCommand(argv: string[], io: CliIO): Promise<number> {
  let parsed: ParsedFlags;
  try {
    parsed = parseRedirectFlags(argv, ['--apply', '--help', '-h']);
  } catch (err) {
    if (err instanceof FlagError || err instanceof ValueError) {
      io.stderr(`splice iptables: ${err.message}\nRun "splice iptables --help" for usage.\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.switches.has('--help') || parsed.switches.has('-h')) {
    io.stdout(USAGE);
    return 0;
  }
  const rules = renderRules(parsed.options);
  if (!parsed.switches.has('--apply')) {
    const ipv6 = rules.ipv6 === undefined ? '# IPv6: not redirected (--ipv6 false)\n' : `# IPv6: ip6tables-restore\n${rules.ipv6}`;
    io.stdout(`# IPv4: iptables-restore\n${rules.ipv4}\n${ipv6}`);
    return 0;
  }
  try {
    await applyRules(rules, io);
  } catch (err) {
    if (err instanceof ApplyError) {
      io.stderr(`splice iptables: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  return 0;
}
