// `splice iptables --apply` against the real kernel, inside network namespaces made for
// the test: the rules land as rendered, re-applying changes nothing, and TCP really
// goes where the rules say. Needs root, iproute2, iptables and setpriv.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { parseRedirectFlags } from '../../src/iptables/flags.js';
import { renderRules } from '../../src/iptables/rules.js';
import { createNetns, deleteNetns, inNetns, must, requireDataplane, startInNetns, stop, type Result } from './netns.js';

const RUNNER = fileURLToPath(new URL('./run-iptables.js', import.meta.url));
const NODE = process.execPath;

// Each listener answers with its name and closes, so a client sees where it landed.
const LISTEN = `
const net = require('node:net');
const specs = JSON.parse(process.argv[1]);
let pending = specs.length;
for (const [host, port, name] of specs) {
  const server = net.createServer((s) => { s.on('error', () => {}); s.end(name + '\\n'); });
  server.on('error', (e) => { console.error(String(e)); process.exit(1); });
  server.listen({ host, port }, () => { if (--pending === 0) console.log('ready'); });
}`;

// Prints what the server said, or error:CODE / timeout; bounded by its own timer.
const CONNECT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
let data = '';
const s = net.connect({ host, port: Number(port) });
s.setTimeout(3000, () => { console.log('timeout'); process.exit(0); });
s.on('data', (d) => (data += d));
s.on('end', () => { console.log(data.trim()); process.exit(0); });
s.on('error', (e) => { console.log('error:' + e.code); process.exit(0); });`;

const POD_IP = '198.18.0.1';
const PEER_IP = '198.18.0.2';
const PEER_FAR_IP = '198.18.1.2'; // on the peer, reached through a route: the "excluded CIDR"

function apply(ns: string, args: string[]): Result {
  return inNetns(ns, NODE, [RUNNER, '--apply', ...args]);
}

/** Asserts the IPv4 restore worked; an IPv6 refusal is checked later, after IPv4 is proven. */
function assertIPv4Applied(r: Result): void {
  if (r.code !== 0 && !r.stderr.includes('ip6tables-restore')) assert.fail(`apply failed (exit ${r.code}): ${r.stderr}`);
}

function assertIPv6Applied(r: Result): void {
  assert.equal(r.code, 0, `the kernel refused the IPv6 nat table in a network namespace: ${r.stderr}`);
}

function connect(ns: string, host: string, port: number, uid?: number): string {
  const asUid = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const [command = NODE, ...rest] = [...asUid, NODE, '-e', CONNECT, host, String(port)];
  const r = inNetns(ns, command, rest);
  assert.equal(r.code, 0, `client in ${ns} failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Chains declared and rules per chain, from iptables-save or iptables-restore text. */
function tables(text: string): { chains: string[]; rules: Record<string, string[]> } {
  const chains: string[] = [];
  const rules: Record<string, string[]> = {};
  for (const line of text.split('\n')) {
    const declared = /^:(\S+) /.exec(line);
    if (declared?.[1] !== undefined) chains.push(declared[1]);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    // iptables-save spells the implicit tcp match out; the rest is as written.
    if (rule?.[1] !== undefined && rule[2] !== undefined) (rules[rule[1]] ??= []).push(rule[2].replace('-p tcp -m tcp ', '-p tcp '));
  }
  return { chains: chains.sort(), rules };
}

const save = (ns: string, command: 'iptables-save' | 'ip6tables-save'): string =>
  inNetns(ns, command, ['-t', 'nat']).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n').replace(/\[\d+:\d+\]/g, '[0:0]');

interface Topology {
  pod: string;
  peer: string;
}

/**
 * Two namespaces joined by a veth pair: "pod" (198.18.0.1) where the rules go, with
 * listeners standing in for the proxy and the app; "peer" (198.18.0.2 and 198.18.1.2)
 * with a server that answers "peer" on 9000 and 8081.
 */
async function withTopology(fn: (t: Topology) => Promise<void> | void): Promise<void> {
  requireDataplane();
  const made: string[] = [];
  const servers: ChildProcess[] = [];
  try {
    const pod = createNetns('pod');
    made.push(pod);
    const peer = createNetns('peer');
    made.push(peer);
    must('ip', ['-n', pod, 'link', 'add', 'sp0', 'type', 'veth', 'peer', 'name', 'sq0', 'netns', peer]);
    must('ip', ['-n', pod, 'addr', 'add', `${POD_IP}/24`, 'dev', 'sp0']);
    must('ip', ['-n', pod, 'link', 'set', 'sp0', 'up']);
    must('ip', ['-n', peer, 'addr', 'add', `${PEER_IP}/24`, 'dev', 'sq0']);
    must('ip', ['-n', peer, 'addr', 'add', `${PEER_FAR_IP}/24`, 'dev', 'sq0']);
    must('ip', ['-n', peer, 'link', 'set', 'sq0', 'up']);
    must('ip', ['-n', pod, 'route', 'add', '198.18.1.0/24', 'via', PEER_IP]);
    servers.push(await startInNetns(pod, NODE, ['-e', LISTEN, JSON.stringify([
      ['0.0.0.0', 15001, 'outbound'], ['0.0.0.0', 15006, 'inbound'], ['0.0.0.0', 15021, 'readiness'],
      ['0.0.0.0', 7000, 'app-7000'], ['127.0.0.1', 9100, 'local'], ['::1', 9100, 'local-v6'],
    ])]));
    servers.push(await startInNetns(peer, NODE, ['-e', LISTEN, JSON.stringify([['0.0.0.0', 9000, 'peer'], ['0.0.0.0', 8081, 'peer']])]));
    await fn({ pod, peer });
  } finally {
    for (const s of servers) await stop(s);
    for (const ns of made) deleteNetns(ns);
  }
}

const MAIN_FLAGS = ['--exclude-outbound-ports', '8081', '--exclude-outbound-cidrs', '198.18.1.0/24,2001:db8::/32', '--exclude-inbound-ports', '7000'];

describe('splice iptables --apply in a network namespace', () => {
  test('installs exactly the rendered nat tables, and a second apply leaves them unchanged', async () => {
    await withTopology(({ pod }) => {
      const rendered = renderRules(parseRedirectFlags(MAIN_FLAGS).options);
      const first = apply(pod, MAIN_FLAGS);
      assertIPv4Applied(first);
      assert.match(first.stdout, /^IPv4: nat table installed with iptables-restore$/m);
      const v4 = save(pod, 'iptables-save');
      assert.deepEqual(tables(v4), tables(rendered.ipv4));
      assertIPv6Applied(first);
      assert.match(first.stdout, /^IPv6: nat table installed with ip6tables-restore$/m);
      const v6 = save(pod, 'ip6tables-save');
      assert.deepEqual(tables(v6), tables(rendered.ipv6 ?? ''));
      assert.match(v6, /^-A SPLICE_OUTPUT -d 2001:db8::\/32 -j RETURN$/m);
      assert.doesNotMatch(v4, /2001:db8/);

      const second = apply(pod, MAIN_FLAGS);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(save(pod, 'iptables-save'), v4);
      assert.equal(save(pod, 'ip6tables-save'), v6);
    });
  });

  test('outbound TCP goes to 15001, except from the proxy uid, to loopback, excluded ports and excluded CIDRs', async () => {
    await withTopology(({ pod }) => {
      assert.equal(connect(pod, PEER_IP, 80), 'error:ECONNREFUSED', 'before the rules nothing answers on port 80');
      const r = apply(pod, MAIN_FLAGS);
      assertIPv4Applied(r);
      assert.equal(connect(pod, PEER_IP, 80), 'outbound', 'a port with no listener anywhere is answered by the proxy');
      assert.equal(connect(pod, PEER_IP, 9000), 'outbound');
      assert.equal(connect(pod, PEER_IP, 9000, 1337), 'peer', 'the proxy uid reaches the destination itself');
      assert.equal(connect(pod, PEER_IP, 9000, 1000), 'outbound', 'any other uid is redirected');
      assert.equal(connect(pod, PEER_IP, 8081), 'peer', 'excluded port');
      assert.equal(connect(pod, PEER_FAR_IP, 9000), 'peer', 'excluded CIDR');
      assert.equal(connect(pod, '127.0.0.1', 9100), 'local', 'IPv4 loopback');
      assert.equal(connect(pod, POD_IP, 7000), 'app-7000', "the pod's own address is loopback too");
      assertIPv6Applied(r);
      assert.equal(connect(pod, '::1', 9100), 'local-v6', 'IPv6 loopback');
    });
  });

  test('inbound TCP to app ports lands on 15006; proxy ports and excluded ports are not captured', async () => {
    await withTopology(({ pod, peer }) => {
      const r = apply(pod, MAIN_FLAGS);
      assertIPv4Applied(r);
      assert.equal(connect(peer, POD_IP, 8080), 'inbound');
      assert.equal(connect(peer, POD_IP, 9000), 'inbound');
      assert.equal(connect(peer, POD_IP, 15021), 'readiness', 'kubelet probes reach the proxy port directly');
      assert.equal(connect(peer, POD_IP, 7000), 'app-7000', 'excluded inbound port');
      assertIPv6Applied(r);
    });
  });

  test('re-applying with include lists replaces the rules and captures only what is included', async () => {
    await withTopology(({ pod, peer }) => {
      assertIPv4Applied(apply(pod, MAIN_FLAGS));
      const flags = ['--include-inbound-ports', '8080', '--include-outbound-cidrs', '198.18.1.0/24'];
      const r = apply(pod, flags);
      assertIPv4Applied(r);
      assert.deepEqual(tables(save(pod, 'iptables-save')), tables(renderRules(parseRedirectFlags(flags).options).ipv4));
      assert.equal(connect(pod, PEER_FAR_IP, 9000), 'outbound', 'included CIDR');
      assert.equal(connect(pod, PEER_IP, 9000), 'peer', 'not in the included CIDRs');
      assert.equal(connect(peer, POD_IP, 8080), 'inbound', 'included port');
      assert.equal(connect(peer, POD_IP, 7000), 'app-7000', 'not an included port');
      assertIPv6Applied(r);
      // No IPv6 CIDR is included, so nothing is captured outbound for IPv6.
      assert.deepEqual(tables(save(pod, 'ip6tables-save')).rules.OUTPUT, undefined);
    });
  });

  /** Applies in a fresh namespace (`prepare` runs first): IPv4 installed, ip6tables left untouched, `why` on stderr. */
  function assertIpv6Skipped(label: string, prepare: (ns: string) => void, args: string[], why: string): void {
    requireDataplane();
    const ns = createNetns(label);
    try {
      prepare(ns);
      const r = apply(ns, args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^IPv4: nat table installed with iptables-restore$/m);
      assert.equal(r.stderr, why);
      assert.match(save(ns, 'iptables-save'), /^:SPLICE_OUTPUT /m);
      assert.doesNotMatch(save(ns, 'ip6tables-save'), /SPLICE/);
    } finally {
      deleteNetns(ns);
    }
  }

  test('IPv6 disabled in the namespace: IPv4 installed, IPv6 skipped with the reason on stderr', () => {
    assertIpv6Skipped('nov6', (ns) => must('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6']), [],
      'IPv6: skipped, ip6tables-restore not run: /proc/sys/net/ipv6/conf/all/disable_ipv6 is 1: IPv6 is disabled in this network namespace\n');
  });

  test('--ipv6 false: IPv4 installed, ip6tables never run though the namespace has IPv6, and the log says why', () => {
    assertIpv6Skipped('v6off', () => undefined, ['--ipv6', 'false'],
      'IPv6: not redirected (--ipv6 false: the proxy does not listen on IPv6), ip6tables-restore not run\n');
  });

  test('without NET_ADMIN the restore fails: exit 1, naming the command and its error', () => {
    requireDataplane();
    const ns = createNetns('nocap');
    try {
      const r = inNetns(ns, 'setpriv', ['--bounding-set=-net_admin', NODE, RUNNER, '--apply']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^splice iptables: iptables-restore --wait=10 failed \(exit \d+\): \S.*(Permission denied|not permitted)/);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(save(ns, 'iptables-save'), /SPLICE/);
    } finally {
      deleteNetns(ns);
    }
  });

  test('without iptables-restore on PATH: exit 1, naming the command', () => {
    requireDataplane();
    const ns = createNetns('nobin');
    try {
      const r = inNetns(ns, 'env', ['PATH=/nonexistent', NODE, RUNNER, '--apply']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'splice iptables: iptables-restore --wait=10: not found on PATH (/nonexistent); install iptables\n');
    } finally {
      deleteNetns(ns);
    }
  });
});
