// `splice iptables` as a process of its own, so a test can run it inside a network
// namespace (`ip netns exec NS node run-iptables.js --apply …`) without the full CLI.
import { iptablesCommand } from '../../src/cli/iptables.js';
import { processIO } from '../../src/cli/io.js';

process.exitCode = await iptablesCommand(process.argv.slice(2), processIO());
