// Preloaded into splice by the two memory sections only (node --expose-gc --import …/settle.js):
// on SIGUSR2 it runs two full garbage collections. Without them RSS depends on where
// V8 happens to be in its GC cycle when it is read (±50 MB on the same process, idle
// or not: an idle Node does not collect), which swamps a 10 MB target. Two, so that
// objects freed only by the first one's finalizers and weak references go too.
// splice itself is unchanged: this only adds a way to ask it to collect now.

const gc = (globalThis as { gc?: (options?: { type: 'major'; execution: 'sync' }) => void }).gc;
process.on('SIGUSR2', () => {
  gc?.();
  setTimeout(() => gc?.(), 200);
});
