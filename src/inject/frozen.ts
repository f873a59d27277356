// Values splice builds once and shares between pods (the config, the containers and
// volumes every replica of a workload gets) are frozen all the way down. A caller that
// tried to change one would throw, instead of quietly changing every later pod. And
// because a deep-frozen value cannot change, its JSON text cannot either: it is
// encoded once, the first time a patch carries it (patch.ts), and reused after that.

// Every object inside a deep-frozen value → its JSON text, once something asked for it.
const frozen = new WeakMap<object, string | undefined>();

export function deepFreeze<T>(value: T): T {
  // Already-frozen objects are walked too: Object.freeze is shallow.
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
    if (!frozen.has(value)) frozen.set(value, undefined);
  }
  return value;
}

/** The JSON text of an object inside a value passed to deepFreeze; undefined for any other object. */
export function frozenJson(value: object): string | undefined {
  if (!frozen.has(value)) return undefined;
  let text = frozen.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    frozen.set(value, text);
  }
  return text;
}

/** Whether `value` is an object inside a value passed to deepFreeze (and so can never change). */
export function isDeepFrozen(value: object): boolean {
  return frozen.has(value);
}
