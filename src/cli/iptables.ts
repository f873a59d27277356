// `splice iptables`: prints the traffic-redirect rules, or with --apply installs them
// (what the splice-init container runs in the pod's network namespace). With
// --bootstrap-file it first writes the proxy's Envoy bootstrap (bootstrap-file.ts).
import { ApplyError, applyRules } from '../iptables/apply.js';
import { FlagError, parseRedirectFlags, type ParsedFlags } from '../iptables/flags.js';
import { ValueError, defaultRedirectOptions, toArgs } from '../iptables/options.js';
import { renderRules } from '../iptables/rules.js';
import { BootstrapInputError } from '../inject/bootstrap-input.js';
import { BOOTSTRAP_FLAGS } from '../inject/init.js';
import { BootstrapWriteError, writeBootstrapFile } from './bootstrap-file.js';
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
  --bootstrap-file PATH            first write the proxy's Envoy bootstrap to PATH,
  --bootstrap-input JSON           rendered from this input (what injection writes)
  --help, -h                       this text

L is a comma-separated list; "--flag=value" works too. Defaults:
  ${toArgs(defaultRedirectOptions()).map((a) => (a === '' || a === '*' ? JSON.stringify(a) : a)).join(' ')}
`;

export async function iptablesCommand(argv: string[], io: CliIO): Promise<number> {
  let parsed: ParsedFlags;
  try {
    parsed = parseRedirectFlags(argv, ['--apply', '--help', '-h'], Object.values(BOOTSTRAP_FLAGS));
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
  const bootstrapFile = parsed.values.get(BOOTSTRAP_FLAGS.file);
  const bootstrapInput = parsed.values.get(BOOTSTRAP_FLAGS.input);
  if ((bootstrapFile === undefined) !== (bootstrapInput === undefined)) {
    io.stderr(`splice iptables: ${BOOTSTRAP_FLAGS.file} and ${BOOTSTRAP_FLAGS.input} go together\nRun "splice iptables --help" for usage.\n`);
    return 2;
  }
  // The bootstrap first: a bad input stops here, before the namespace's rules are touched.
  if (bootstrapFile !== undefined && bootstrapInput !== undefined) {
    try {
      const { bytes } = await writeBootstrapFile(bootstrapFile, bootstrapInput);
      io.stdout(`proxy bootstrap written to ${bootstrapFile} (${bytes} bytes)\n`);
    } catch (err) {
      if (err instanceof BootstrapInputError) {
        io.stderr(`splice iptables: ${BOOTSTRAP_FLAGS.input}: ${err.message}\n`);
        return 2;
      }
      if (err instanceof BootstrapWriteError) {
        io.stderr(`splice iptables: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
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
