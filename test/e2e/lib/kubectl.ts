// kubectl against the test cluster (KUBECONFIG from test/e2e/cluster.sh). Synchronous on
// purpose: each call is a step of a scenario. splice's own output goes to a file, never
// a pipe, so a blocked test process cannot stall the webhook it is waiting on.
import { spawnSync } from 'node:child_process';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectlBin(): string {
  const bin = process.env.SPLICE_E2E_KUBECTL;
  if (!bin) throw new Error('SPLICE_E2E_KUBECTL is not set: run the end-to-end tests with npm run test:e2e (test/e2e/run.sh starts the cluster)');
  return bin;
}

export interface KubectlOptions {
  input?: string;
  kubeconfig?: string;
  /** Seconds before kubectl gives up on the API server. */
  timeout?: number;
}

export function kubectl(args: string[], opts: KubectlOptions = {}): Run {
  const env = { ...process.env, ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}) };
  const r = spawnSync(kubectlBin(), ['--request-timeout', `${opts.timeout ?? 30}s`, ...args], {
    env,
    input: opts.input,
    encoding: 'utf8',
    timeout: ((opts.timeout ?? 30) + 15) * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

/** kubectl that must succeed; returns stdout. */
export function ok(args: string[], opts: KubectlOptions = {}): string {
  const r = kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export function getJson<T>(args: string[], opts: KubectlOptions = {}): T {
  return JSON.parse(ok([...args, '-o', 'json'], opts)) as T;
}

export function apply(manifest: unknown, extra: string[] = []): Run {
  const input = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return kubectl(['apply', '-f', '-', ...extra], { input });
}

/** Polls until `probe` gives a value; a probe that throws counts as "not yet", and its last error is reported on timeout. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    let value: T | undefined;
    try {
      value = await probe();
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
