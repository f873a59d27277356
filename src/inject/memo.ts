// A bounded memo for pure renderings that every pod of a workload shares (the Envoy
// bootstrap, the containers and volumes splice adds): they depend only on namespace,
// service account, overrides and config, so a rollout of 1,000 replicas renders them
// once instead of 1,000 times. Bounded so a cluster with many service accounts cannot
// grow it without limit; the least recently used entry goes first, so a busy workload
// stays cached while a burst of one-off pods passes through.
export function boundedMemo<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    const hit = cache.get(key);
    if (hit !== undefined) {
      // A Map iterates in insertion order: moving the key to the end marks it recent.
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const value = compute(key);
    if (cache.size >= limit) {
      const oldest = cache.keys().next();
      if (!oldest.done) cache.delete(oldest.value);
    }
    cache.set(key, value);
    return value;
  };
}
