// `npm run bench -- --node`: brings the real node up with test/node/run.sh (which builds
// what is not cached, starts the control plane with the burst's controller-manager limits,
// installs splice through the Service, and always tears everything down, leaving the host
// as it found it) and runs the Service-backed burst inside it (node-burst.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../../test/e2e/lib/splice.js';
import type { Figure } from '../lib/figure.js';
import { KCM_FLAGS } from './burst.js';
import { run } from './cluster.js';

/** The node's build, images, start and stop, and the runs: well past the URL section's. */
const TIMEOUT_MS = 30 * 60_000;

export async function nodeBurstOnNode(): Promise<Figure[]> {
  if (process.getuid?.() !== 0) throw new Error('the real node needs root (namespaces, mounts, cgroups): run npm run bench -- --node as root');
  const dir = mkdtempSync(join(tmpdir(), 'splice-bench-node-'));
  try {
    const out = join(dir, 'figures.json');
    const r = await run('bash', [join(REPO, 'test/node/run.sh'), '--exec', process.execPath, join(REPO, 'dist/bench/cluster/node-burst.js'), out], {
      env: { ...process.env, SPLICE_E2E_KCM_FLAGS: KCM_FLAGS },
      timeoutMs: TIMEOUT_MS,
    });
    if (r.code !== 0) throw new Error(`test/node/run.sh --exec failed (${r.code}):\n${r.stderr.trim().split('\n').slice(-30).join('\n')}`);
    return JSON.parse(readFileSync(out, 'utf8')) as Figure[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
