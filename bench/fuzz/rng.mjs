// The fuzzer's own seeded PRNG: the same --seed generates the same requests on every machine and
// Node version (Math.random cannot be seeded). sfc32, seeded by hashing the seed text (cyrb128).

/**
 * @typedef {object} Rng
 * @property {() => number} next         a float in [0, 1)
 * @property {(n: number) => number} int  an integer in [0, n)
 * @property {(lo: number, hi: number) => number} between  an integer in [lo, hi]
 * @property {(p: number) => boolean} chance  true with probability p
 * @property {<T>(items: readonly T[]) => T} pick  one of items (not empty)
 * @property {<T>(items: readonly (readonly [number, T])[]) => T} weighted  one of [weight, item]
 */

/** @param {string} text */
function cyrb128(text) {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/**
 * @param {string | number} seed
 * @returns {Rng}
 */
export function createRng(seed) {
  const text = String(seed);
  let [a, b, c, d] = /** @type {[number, number, number, number]} */ (cyrb128(text));
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Warm up: the first outputs of sfc32 still look like the seed.
  for (let i = 0; i < 15; i++) next();
  /** @type {Rng} */
  const rng = {
    next,
    int: (n) => Math.floor(next() * n),
    between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick(items) {
      if (items.length === 0) throw new Error('pick from an empty list');
      return /** @type {any} */ (items[Math.floor(next() * items.length)]);
    },
    weighted(items) {
      const total = items.reduce((sum, [w]) => sum + w, 0);
      let r = next() * total;
      for (const [w, item] of items) {
        r -= w;
        if (r < 0) return item;
      }
      return /** @type {any} */ (items[items.length - 1])[1];
    },
  };
  return rng;
}
