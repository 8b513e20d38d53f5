// What both CPU backends share: activations in plain Float32Arrays on the main thread, and the
// cheap per-row operations (RMSNorm, rope) done there in float64 arithmetic.

/** out[n, dim] = x / sqrt(mean(x²) + eps) * weight, per row (sums in float64). */
export function rmsnormRows(out: Float32Array, x: Float32Array, n: number, weight: Float32Array, eps: number): void {
  const d = weight.length;
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let c = 0; c < d; c++) ss += x[i * d + c]! * x[i * d + c]!;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let c = 0; c < d; c++) out[i * d + c] = x[i * d + c]! * inv * weight[c]!;
  }
}

const invFreqCache = new Map<string, Float64Array>();

/** theta^(-2j/headDim) for j < headDim/2, computed once per (theta, headDim). */
function inverseFrequencies(theta: number, headDim: number): Float64Array {
  const key = `${theta}/${headDim}`;
  let f = invFreqCache.get(key);
  if (!f) invFreqCache.set(key, (f = Float64Array.from({ length: headDim / 2 }, (_, j) => Math.pow(theta, (-2 * j) / headDim))));
  return f;
}

/**
 * In place on x[n, heads, headDim]: NeoX rotate-half rope, pairs (j, j + headDim/2) rotated by
 * pos · theta^(-2j/headDim), angles in float64 (positions up to 131072 need it).
 */
export function ropeNeox(x: Float32Array, n: number, heads: number, headDim: number, pos0: number, theta: number): void {
  const half = headDim / 2;
  const invFreq = inverseFrequencies(theta, headDim);
  for (let i = 0; i < n; i++) {
    const pos = pos0 + i;
    for (let j = 0; j < half; j++) {
      const angle = pos * invFreq[j]!;
      const cos = Math.cos(angle), sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const o = (i * heads + h) * headDim;
        const a = x[o + j]!, b = x[o + j + half]!;
        x[o + j] = a * cos - b * sin;
        x[o + j + half] = b * cos + a * sin;
      }
    }
  }
}


export abstract class HostActivations {
  alloc(n: number): Float32Array {
    return new Float32Array(n);
  }

  rmsnorm(out: Float32Array, x: Float32Array, n: number, weight: Float32Array, eps: number): void {
    rmsnormRows(out, x, n, weight, eps);
  }

  rope(x: Float32Array, n: number, heads: number, headDim: number, pos0: number, theta: number): void {
    ropeNeox(x, n, heads, headDim, pos0, theta);
  }
}
