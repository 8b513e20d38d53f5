// The reference backend: every operation in plain TypeScript loops over float32 arrays, weights
// converted to float32 at load (block-quantized GGUF weights are dequantized exactly). Slow and obviously correct; the fast backends are tested against it.
import { decodeToFloat32 as toFloat32 } from '../formats/ggml-quants.js';
import { FormatError } from '../formats/safetensors.js';
import type { Backend, Embedding, HostTensor, KVStore, Linear, SwiGLU } from './backend.js';
import { HostActivations } from './host.js';

interface RefSwiGLU extends SwiGLU {
  gate: Linear;
  up: Linear;
  down: Linear;
}

interface RefLinear extends Linear {
  w: Float32Array; // [out, in]
  b?: Float32Array; // [out]
}

interface RefKVStore extends KVStore {
  k: Float32Array; // [maxSeq, kvHeads, headDim]
  v: Float32Array; // [maxSeq, kvHeads, headDim]
}

interface RefEmbedding extends Embedding {
  table: Float32Array; // [vocab, dim]
}

function matrixShape(t: HostTensor): [number, number] {
  if (t.shape.length !== 2) throw new FormatError(t.name, `expected a 2-D matrix, got shape ${JSON.stringify(t.shape)}`);
  return [t.shape[0]!, t.shape[1]!];
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export class ReferenceBackend extends HostActivations implements Backend {
  readonly name = 'reference';

  linear(weight: HostTensor, bias?: HostTensor): Linear {
    const [outFeatures, inFeatures] = matrixShape(weight);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures)) {
      throw new FormatError(bias.name, `bias shape ${JSON.stringify(bias.shape)} does not match ${outFeatures} outputs`);
    }
    const lin: RefLinear = { inFeatures, outFeatures, w: toFloat32(weight.dtype, weight.bytes) };
    if (bias) lin.b = toFloat32(bias.dtype, bias.bytes);
    return lin;
  }

  vector(t: HostTensor): Float32Array {
    return toFloat32(t.dtype, t.bytes);
  }

  embedding(t: HostTensor): Embedding {
    const [vocab, dim] = matrixShape(t);
    const e: RefEmbedding = { vocab, dim, table: toFloat32(t.dtype, t.bytes) };
    return e;
  }

  embed(out: Float32Array, ids: ArrayLike<number>, table: Embedding): void {
    const { table: t, dim, vocab } = table as RefEmbedding;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
      out.set(t.subarray(id * dim, (id + 1) * dim), i * dim);
    }
  }

  mlp(gate: HostTensor, up: HostTensor, down: HostTensor): SwiGLU {
    const m: RefSwiGLU = { hidden: matrixShape(gate)[1], intermediate: matrixShape(gate)[0],
      gate: this.linear(gate), up: this.linear(up), down: this.linear(down) };
    return m;
  }

  kvStore(maxSeq: number, kvHeads: number, headDim: number): KVStore {
    const store: RefKVStore = { maxSeq, k: new Float32Array(maxSeq * kvHeads * headDim), v: new Float32Array(maxSeq * kvHeads * headDim) };
    return store;
  }

  project(outs: readonly Float32Array[], x: Float32Array, n: number, ws: readonly Linear[]): void {
    ws.forEach((w, j) => this.matmul(outs[j]!, x, n, w));
  }

  matmul(out: Float32Array, x: Float32Array, n: number, lin: Linear): void {
    const { w, b, inFeatures: d, outFeatures: m } = lin as RefLinear;
    for (let i = 0; i < n; i++) {
      const xo = i * d;
      for (let r = 0; r < m; r++) {
        const wo = r * d;
        let acc = 0;
        for (let c = 0; c < d; c++) acc += x[xo + c]! * w[wo + c]!;
        out[i * m + r] = b ? acc + b[r]! : acc;
      }
    }
  }

  attention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, cache: KVStore,
    n: number, pos0: number, heads: number, kvHeads: number, headDim: number): void {
    const { k: kCache, v: vCache } = cache as RefKVStore;
    const kvDim = kvHeads * headDim;
    kCache.set(k.subarray(0, n * kvDim), pos0 * kvDim);
    vCache.set(v.subarray(0, n * kvDim), pos0 * kvDim);
    const group = heads / kvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const scores = new Float64Array(pos0 + n);
    for (let i = 0; i < n; i++) {
      const len = pos0 + i + 1; // causal: this query sees positions 0 .. pos0+i
      for (let h = 0; h < heads; h++) {
        const qo = (i * heads + h) * headDim;
        const kvh = Math.floor(h / group);
        let max = -Infinity;
        for (let t = 0; t < len; t++) {
          const ko = (t * kvHeads + kvh) * headDim;
          let s = 0;
          for (let c = 0; c < headDim; c++) s += q[qo + c]! * kCache[ko + c]!;
          scores[t] = s * scale;
          if (scores[t]! > max) max = scores[t]!;
        }
        let sum = 0;
        for (let t = 0; t < len; t++) { scores[t] = Math.exp(scores[t]! - max); sum += scores[t]!; }
        for (let c = 0; c < headDim; c++) {
          let acc = 0;
          for (let t = 0; t < len; t++) acc += scores[t]! * vCache[(t * kvHeads + kvh) * headDim + c]!;
          out[qo + c] = acc / sum;
        }
      }
    }
  }

  swiglu(out: Float32Array, x: Float32Array, n: number, swiglu: SwiGLU): void {
    const mlp = swiglu as RefSwiGLU;
    const inter = mlp.intermediate;
    const g = new Float32Array(n * inter), u = new Float32Array(n * inter);
    this.matmul(g, x, n, mlp.gate);
    this.matmul(u, x, n, mlp.up);
    for (let i = 0; i < g.length; i++) g[i] = silu(g[i]!) * u[i]!;
    this.matmul(out, g, n, mlp.down);
  }

  experts(out: Float32Array, x: Float32Array, n: number, experts: readonly SwiGLU[],
    expertIds: Int32Array, weights: Float32Array, k: number, shared?: SwiGLU | null): void {
    const d = experts[0]!.hidden;
    out.fill(0, 0, n * d);
    const y = new Float32Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) {
        this.swiglu(y, x.subarray(i * d, (i + 1) * d), 1, experts[expertIds[i * k + j]!]!);
        const w = weights[i * k + j]!;
        for (let c = 0; c < d; c++) out[i * d + c] += w * y[c]!;
      }
    }
    if (shared) {
      const ys = new Float32Array(n * d);
      this.swiglu(ys, x, n, shared);
      for (let i = 0; i < n * d; i++) out[i] += ys[i]!;
    }
  }
}
