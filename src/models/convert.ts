// Hugging Face checkpoint -> GGUF. Tensors are read, converted and written one at a time (stacked
// expert tensors one expert at a time), so memory holds at most one expert matrix, never the model.
import * as path from 'node:path';
import { Checkpoint } from '../formats/checkpoint.js';
import { fromFloat32, toFloat32 } from '../formats/dtype.js';
import { ggmlType, isBlockDType, quantize, type BlockDType } from '../formats/ggml-quants.js';
import { writeGguf, type GgufTensorToWrite, type GgufWriteProgress } from '../formats/gguf.js';
import { ggufMetadata, hfToGguf, isAlwaysF32, LLAMA_FTYPE } from './gguf-arch.js';
import { expectedTensors, readModelArgs } from './load.js';
import type { DecoderArgs } from './transformer.js';

export const CONVERT_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q4_k_m', 'q5_k_m'] as const;
export type ConvertType = typeof CONVERT_TYPES[number];

const FILE_TYPE: Record<ConvertType, number> = {
  f32: LLAMA_FTYPE.ALL_F32, f16: LLAMA_FTYPE.MOSTLY_F16, bf16: LLAMA_FTYPE.MOSTLY_BF16,
  q8_0: LLAMA_FTYPE.MOSTLY_Q8_0, q4_0: LLAMA_FTYPE.MOSTLY_Q4_0, q4_k: LLAMA_FTYPE.MOSTLY_Q4_K_S,
  q5_k: LLAMA_FTYPE.MOSTLY_Q5_K_S, q6_k: LLAMA_FTYPE.MOSTLY_Q6_K, q4_k_m: LLAMA_FTYPE.MOSTLY_Q4_K_M, q5_k_m: LLAMA_FTYPE.MOSTLY_Q5_K_M,
};

const MAIN_TYPE: Record<ConvertType, string> = {
  f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k: 'Q4_K', q5_k: 'Q5_K', q6_k: 'Q6_K', q4_k_m: 'Q4_K', q5_k_m: 'Q5_K',
};

/** llama.cpp's use_more_bits (llama-quant.cpp): the layers its _M mixes give more bits. */
function useMoreBits(layer: number, layers: number): boolean {
  const e = Math.trunc(layers / 8);
  return layer < e || layer >= Math.trunc((7 * layers) / 8) || (layer - e) % 3 === 2;
}

/**
 * The GGML type of one GGUF tensor in a file of `type` (`layers`: the model's layer count, used by
 * the _M mixes):
 *  - norms, biases, the router (ffn_gate_inp) and the router scale: F32 (as llama.cpp's converter);
 *  - output.weight (lm_head) in q4_0 / q4_k files: Q8_0 (kept from before Q6_K existed here);
 *    in q5_k / q4_k_m / q5_k_m files: Q6_K (as llama-quantize);
 *  - q4_k_m / q5_k_m: llama-quantize's Q4_K_M / Q5_K_M recipe for a dense model: Q4_K / Q5_K,
 *    except attn_v and ffn_down of the layers use_more_bits picks (the first and last eighth and
 *    every third layer between), Q6_K;
 *  - every other matrix, token_embd included: the file's type;
 *  - a block type whose block does not divide the row length falls back as llama-quantize's
 *    tensor_type_fallback: Q4_K -> Q5_0, Q6_K -> Q8_0, Q5_K -> Q8_0 (llama.cpp: Q5_1, which this
 *    project does not implement), then to F16 (llama.cpp's converter and quantizer do the same).
 */
export function tensorTypeFor(ggufName: string, shape: readonly number[], type: ConvertType, layers = 1): string {
  if (isAlwaysF32(ggufName, shape)) return 'F32';
  let t = MAIN_TYPE[type];
  if (ggufName === 'output.weight' && (type === 'q4_0' || type === 'q4_k')) t = 'Q8_0';
  if (ggufName === 'output.weight' && (type === 'q5_k' || type === 'q4_k_m' || type === 'q5_k_m')) t = 'Q6_K';
  const blk = /^blk\.(\d+)\.(attn_v|ffn_down|ffn_down_exps|ffn_down_shexp)\.weight$/.exec(ggufName);
  if (blk && (type === 'q4_k_m' || type === 'q5_k_m') && useMoreBits(Number(blk[1]), layers)) t = 'Q6_K';
  const row = shape[shape.length - 1]!;
  if (t.endsWith('_K') && row % ggmlType(t).blockSize !== 0) t = t === 'Q4_K' ? 'Q5_0' : 'Q8_0';
  if (row % ggmlType(t).blockSize !== 0) t = 'F16';
  return t;
}

export interface ConvertOptions {
  type: ConvertType;
  /** general.name; default: the directory's name. */
  name?: string;
  onProgress?: (p: GgufWriteProgress) => void;
  /**
   * Quantizes into a block type; default: src/formats/ggml-quants.ts on this thread. Any
   * implementation must write ggml's bytes (the CLI passes the wasm kernels on worker threads).
   */
  quantize?: (dtype: BlockDType, x: Float32Array) => Uint8Array;
}

export interface PlannedTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** The Hugging Face tensors it is made of (several for stacked experts). */
  sources: string[];
}

/** The GGUF tensors of a model, in file order: token_embd, the layers, output_norm, output. */
export function planTensors(args: DecoderArgs, type: ConvertType): PlannedTensor[] {
  const plan: PlannedTensor[] = [];
  const byName = new Map<string, PlannedTensor>();
  for (const { name: hf, shape } of expectedTensors(args)) {
    const loc = hfToGguf(hf);
    if (!loc) throw new Error(`no GGUF name for tensor '${hf}'`);
    let t = byName.get(loc.name);
    if (!t) {
      // router_scale [1, n_expert] is stored as a vector, like llama.cpp's per-expert scales.
      const ggufShape = loc.expert !== undefined ? [0, ...shape] : hf.endsWith('mlp.router_scale') ? [shape[1]!] : [...shape];
      t = { name: loc.name, dtype: tensorTypeFor(loc.name, ggufShape, type, args.num_hidden_layers), shape: ggufShape, sources: [] };
      byName.set(loc.name, t);
      plan.push(t);
    }
    if (loc.expert !== undefined) {
      if (loc.expert !== t.sources.length) throw new Error(`experts of '${loc.name}' are not in order at '${hf}'`);
      t.shape[0] = loc.expert + 1;
    }
    t.sources.push(hf);
  }
  const rank = (n: string) => (n === 'token_embd.weight' ? 0 : n === 'output_norm.weight' ? 2 : n === 'output.weight' ? 3 : 1);
  return plan.map((t, i) => ({ t, i })).sort((a, b) => rank(a.t.name) - rank(b.t.name) || a.i - b.i).map(({ t }) => t);
}

/** Reads one Hugging Face tensor and encodes it as `dtype`. */
function encode(ckpt: Checkpoint, hf: string, dtype: string, quantizeTo: NonNullable<ConvertOptions['quantize']>): Uint8Array {
  const info = ckpt.info(hf);
  const raw = ckpt.read(hf);
  if (info.dtype === dtype) return raw; // same encoding (F32, F16, BF16): bytes as they are
  const x = toFloat32(info.dtype, raw);
  return isBlockDType(dtype) ? quantizeTo(dtype, x) : fromFloat32(dtype as 'F32' | 'F16' | 'BF16', x);
}

export interface ConvertResult {
  tensors: number;
  bytes: number;
  /** Number of GGUF tensors of each GGML type. */
  types: Record<string, number>;
}

/** Writes the checkpoint in `dir` as one GGUF file `out`. */
export function convertToGguf(dir: string, out: string, opts: ConvertOptions): ConvertResult {
  const args = readModelArgs(dir);
  const plan = planTensors(args, opts.type);
  const ckpt = Checkpoint.open(dir);
  const quantizeTo = opts.quantize ?? quantize;
  try {
    for (const t of plan) for (const hf of t.sources) ckpt.info(hf); // fail before writing anything
    const metadata = ggufMetadata(args, {
      name: opts.name ?? path.basename(path.resolve(dir)), fileType: FILE_TYPE[opts.type], tokenizerDir: dir,
    });
    const tensors: GgufTensorToWrite[] = plan.map((t) => ({
      name: t.name, dtype: t.dtype, shape: t.shape,
      data: t.sources.length === 1 ? () => encode(ckpt, t.sources[0]!, t.dtype, quantizeTo)
        : function* () { for (const hf of t.sources) yield encode(ckpt, hf, t.dtype, quantizeTo); },
    }));
    let bytes = 0;
    writeGguf(out, metadata, tensors, {
      onProgress: (p) => { bytes = p.bytesTotal; opts.onProgress?.(p); },
    });
    const types: Record<string, number> = {};
    for (const t of plan) types[t.dtype] = (types[t.dtype] ?? 0) + 1;
    return { tensors: plan.length, bytes, types };
  } finally {
    ckpt.close();
  }
}
