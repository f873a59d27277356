import assert from 'node:assert/strict';

/** Polls `check` until it holds; fails after `timeoutMs` rather than hang. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}
