// The two Pangu architectures in GGUF: metadata keys <-> model args, GGUF tensor names <-> the
// Hugging Face names model code asks for. `pangu-embedded` is exactly what llama.cpp's converter
// writes (and llama.cpp loads); `pangu-moe` is this project's design, in llama.cpp's MoE
// conventions. docs/GGUF.md is the reference for both.
import { decodeToFloat32, SUPPORTED_TYPES, type TensorDType } from '../formats/ggml-quants.js';
import { GgufFile, GgufType, kv, type GgufMetadata, type GgufTensorInfo } from '../formats/gguf.js';
import { checkByteRange, FormatError } from '../formats/safetensors.js';
import type { SourceTensorInfo, TensorSource } from '../formats/tensor-source.js';
import { noVocabMetadata, readConfigJson, tokenizerMetadata } from '../tokenizer/gguf-vocab.js';
import { ConfigError, type RawConfig } from './config.js';
import { parseModelArgs } from './load.js';
import * as embedded from './pangu-embedded.js';
import * as moe from './pangu-moe.js';
import type { DecoderArgs } from './transformer.js';

export const ARCH_EMBEDDED = 'pangu-embedded';
export const ARCH_MOE = 'pangu-moe';

/** general.quantization_version as llama.cpp writes it (GGML_QUANT_VERSION). */
export const GGML_QUANT_VERSION = 2;

/** llama.cpp's llama_ftype values for general.file_type. */
export const LLAMA_FTYPE = {
  ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q4_0: 2, MOSTLY_Q8_0: 7, MOSTLY_Q4_K_S: 14, MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16, MOSTLY_Q5_K_M: 17, MOSTLY_Q6_K: 18, MOSTLY_BF16: 32,
} as const;

/** llama.cpp's expert gating function ids ({arch}.expert_gating_func). */
export const EXPERT_GATING_SOFTMAX = 1;

export function ggufArchitectureOf(args: DecoderArgs): string {
  if (args.model_type === embedded.MODEL_TYPE) return ARCH_EMBEDDED;
  if (args.model_type === moe.MODEL_TYPE) return ARCH_MOE;
  throw new Error(`model_type ${args.model_type} has no GGUF architecture`);
}

// ---------------------------------------------------------------------------------------------
// Tensor names

/** Per-layer names: Hugging Face suffix after `model.layers.{i}.` -> GGUF suffix after `blk.{i}.`. */
const LAYER_NAMES: readonly [string, string][] = [
  ['input_layernorm.weight', 'attn_norm.weight'],
  ['post_attention_layernorm.weight', 'ffn_norm.weight'],
  ['self_attn.q_proj.weight', 'attn_q.weight'],
  ['self_attn.q_proj.bias', 'attn_q.bias'],
  ['self_attn.k_proj.weight', 'attn_k.weight'],
  ['self_attn.k_proj.bias', 'attn_k.bias'],
  ['self_attn.v_proj.weight', 'attn_v.weight'],
  ['self_attn.v_proj.bias', 'attn_v.bias'],
  ['self_attn.o_proj.weight', 'attn_output.weight'],
  ['self_attn.o_proj.bias', 'attn_output.bias'],
  // dense MLP (pangu-embedded)
  ['mlp.gate_proj.weight', 'ffn_gate.weight'],
  ['mlp.up_proj.weight', 'ffn_up.weight'],
  ['mlp.down_proj.weight', 'ffn_down.weight'],
  // MoGE (pangu-moe)
  ['mlp.gate.weight', 'ffn_gate_inp.weight'],
  ['mlp.router_scale', 'ffn_down_exps.scale'],
  ['mlp.shared_expert.gate_proj.weight', 'ffn_gate_shexp.weight'],
  ['mlp.shared_expert.up_proj.weight', 'ffn_up_shexp.weight'],
  ['mlp.shared_expert.down_proj.weight', 'ffn_down_shexp.weight'],
];
const GLOBAL_NAMES: readonly [string, string][] = [
  ['model.embed_tokens.weight', 'token_embd.weight'],
  ['model.norm.weight', 'output_norm.weight'],
  ['lm_head.weight', 'output.weight'],
];
const HF_LAYER = /^model\.layers\.(\d+)\.(.+)$/;
const GGUF_LAYER = /^blk\.(\d+)\.(.+)$/;
const HF_EXPERT = /^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$/;
const GGUF_EXPERTS = /^ffn_(gate|up|down)_exps\.weight$/;
const HF_TO_GGUF_LAYER = new Map(LAYER_NAMES);
const GGUF_TO_HF_LAYER = new Map(LAYER_NAMES.map(([a, b]) => [b, a]));
const HF_TO_GGUF_GLOBAL = new Map(GLOBAL_NAMES);
const GGUF_TO_HF_GLOBAL = new Map(GLOBAL_NAMES.map(([a, b]) => [b, a]));

/** Where a Hugging Face tensor lives in GGUF: a tensor, or expert `expert` of a stacked one. */
export interface GgufLocation {
  name: string;
  expert?: number;
}

/** The GGUF tensor (and expert slice) holding a Hugging Face tensor, or undefined if unmapped. */
export function hfToGguf(hfName: string): GgufLocation | undefined {
  const global = HF_TO_GGUF_GLOBAL.get(hfName);
  if (global) return { name: global };
  const m = HF_LAYER.exec(hfName);
  if (!m) return undefined;
  const [, layer, rest] = m;
  const e = HF_EXPERT.exec(rest!);
  if (e) return { name: `blk.${layer}.ffn_${e[2]}_exps.weight`, expert: Number(e[1]) };
  const suffix = HF_TO_GGUF_LAYER.get(rest!);
  return suffix ? { name: `blk.${layer}.${suffix}` } : undefined;
}

/** True for GGUF tensors kept in float32 whatever the file type: norms, biases, router, router scale. */
export function isAlwaysF32(ggufName: string, shape: readonly number[]): boolean {
  return shape.length <= 1 || !ggufName.endsWith('.weight') || /(^|\.)ffn_gate_inp\.weight$/.test(ggufName) ||
    /norm\.weight$/.test(ggufName);
}

// ---------------------------------------------------------------------------------------------
// Reading: a GGUF file as a TensorSource under Hugging Face names

interface Entry {
  info: SourceTensorInfo;
  gguf: GgufTensorInfo;
  /** Byte range inside the GGUF tensor (a slice of stacked experts). */
  start: number;
}

/** A GGUF file seen under Hugging Face names; stacked expert tensors become per-expert views. */
export class GgufTensorSource implements TensorSource {
  private readonly entries = new Map<string, Entry>();
  /** GGUF tensors with no Hugging Face counterpart (ignored, e.g. rope_freqs). */
  readonly unmapped: string[] = [];

  constructor(readonly gguf: GgufFile) {
    for (const t of gguf.tensors.values()) this.add(t);
  }

  get location(): string {
    return this.gguf.file;
  }

  private add(t: GgufTensorInfo): void {
    const base = { dtype: t.dtype as TensorDType, file: t.file };
    const global = GGUF_TO_HF_GLOBAL.get(t.name);
    if (global) {
      this.entries.set(global, { info: { ...base, name: global, shape: t.shape, byteLength: t.byteLength }, gguf: t, start: 0 });
      return;
    }
    const m = GGUF_LAYER.exec(t.name);
    if (!m) {
      this.unmapped.push(t.name);
      return;
    }
    const [, layer, rest] = m;
    const stacked = GGUF_EXPERTS.exec(rest!);
    if (stacked) {
      if (t.shape.length !== 3) throw new FormatError(t.file, `stacked experts need 3 dimensions [n_expert, rows, cols], got [${t.shape.join(', ')}]`, t.name);
      const [n, rows, cols] = t.shape as [number, number, number];
      const per = t.byteLength / n;
      for (let j = 0; j < n; j++) {
        const name = `model.layers.${layer}.mlp.experts.${j}.${stacked[1]}_proj.weight`;
        this.entries.set(name, { info: { ...base, name, shape: [rows, cols], byteLength: per }, gguf: t, start: j * per });
      }
      return;
    }
    const hf = GGUF_TO_HF_LAYER.get(rest!);
    if (!hf) {
      this.unmapped.push(t.name);
      return;
    }
    const name = `model.layers.${layer}.${hf}`;
    // router_scale is [1, n_expert] in the checkpoint, a vector [n_expert] in GGUF.
    const shape = hf === 'mlp.router_scale' && t.shape.length === 1 ? [1, t.shape[0]!] : t.shape;
    this.entries.set(name, { info: { ...base, name, shape, byteLength: t.byteLength }, gguf: t, start: 0 });
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) {
      const loc = hfToGguf(name);
      const where = loc ? ` (GGUF tensor '${loc.name}'${loc.expert !== undefined ? `, expert ${loc.expert}` : ''})` : '';
      throw new FormatError(this.gguf.file, `missing from the GGUF file${where}`, name);
    }
    if (!(SUPPORTED_TYPES as readonly string[]).includes(e.gguf.dtype)) {
      throw new FormatError(this.gguf.file, `GGML type ${e.gguf.dtype} is not supported by this runtime (supported: ${SUPPORTED_TYPES.join(', ')})`, e.gguf.name);
    }
    return e;
  }

  info(name: string): SourceTensorInfo {
    return this.entry(name).info;
  }

  read(name: string): Uint8Array {
    const e = this.entry(name);
    return this.gguf.readRange(e.gguf.name, e.start, e.info.byteLength);
  }

  readInto(name: string, start: number, dst: Uint8Array): void {
    const e = this.entry(name);
    checkByteRange(this.gguf.file, name, start, dst.byteLength, e.info.byteLength);
    this.gguf.readInto(e.gguf.name, e.start + start, dst);
  }

  /** One tensor decoded to float32 (tests and tools). */
  readF32(name: string): Float32Array {
    return decodeToFloat32(this.info(name).dtype, this.read(name));
  }

  close(): void {
    this.gguf.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Metadata <-> args

/** The shortest decimal that rounds to the same float32 (1e-5 stored as f32 reads back as 1e-5). */
export function f32Decimal(x: number): number {
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const y = Number(f.toPrecision(p));
    if (Math.fround(y) === f) return y;
  }
  return f;
}

function fail(file: string, message: string): never {
  throw new ConfigError(file, message);
}

/** Model args from a GGUF file's metadata, validated as a config.json would be. */
export function ggufModelArgs(g: GgufFile): DecoderArgs {
  const arch = g.architecture;
  if (arch !== ARCH_EMBEDDED && arch !== ARCH_MOE) {
    fail(g.file, `general.architecture '${arch}' is not supported (supported: ${ARCH_EMBEDDED}, ${ARCH_MOE})`);
  }
  const k = (s: string) => `${arch}.${s}`;
  const hidden = g.uint(k('embedding_length'));
  const heads = g.uint(k('attention.head_count'));
  const headDim = heads > 0 ? hidden / heads : 0;
  for (const key of ['attention.key_length', 'attention.value_length', 'rope.dimension_count']) {
    if (g.has(k(key)) && g.uint(k(key)) !== headDim) {
      fail(g.file, `${k(key)} = ${g.uint(k(key))} differs from embedding_length / head_count = ${headDim}; Pangu models have head_dim = hidden / heads`);
    }
  }
  const scaling = g.string(k('rope.scaling.type'), 'none');
  if (scaling !== 'none') fail(g.file, `${k('rope.scaling.type')} '${scaling}' is not supported: Pangu uses plain rope`);
  const embd = g.tensors.get('token_embd.weight');
  const vocab = g.has(k('vocab_size')) ? g.uint(k('vocab_size'))
    : embd ? embd.shape[0]! : g.has('tokenizer.ggml.tokens') ? g.array('tokenizer.ggml.tokens').length
      : fail(g.file, `cannot tell the vocabulary size: no ${k('vocab_size')}, token_embd.weight or tokenizer.ggml.tokens`);
  const eos = g.has('tokenizer.ggml.eos_token_ids') ? g.array('tokenizer.ggml.eos_token_ids')
    : [g.uint('tokenizer.ggml.eos_token_id', 2)];
  const raw: RawConfig = {
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: g.uint(k('block_count')),
    num_attention_heads: heads,
    num_key_value_heads: g.uint(k('attention.head_count_kv'), heads),
    hidden_act: 'silu',
    rms_norm_eps: f32Decimal(g.float(k('attention.layer_norm_rms_epsilon'))),
    rope_theta: f32Decimal(g.float(k('rope.freq_base'), 10000)),
    max_position_embeddings: g.uint(k('context_length')),
    tie_word_embeddings: !g.tensors.has('output.weight'),
    bos_token_id: g.uint('tokenizer.ggml.bos_token_id', 1),
    eos_token_id: eos,
  };
  if (arch === ARCH_EMBEDDED) {
    Object.assign(raw, {
      model_type: embedded.MODEL_TYPE, architectures: [embedded.ARCHITECTURE],
      intermediate_size: g.uint(k('feed_forward_length')), bias: true,
    });
  } else {
    const groups = g.uint(k('expert_group_count'), moe.NUM_EXPERT_GROUPS);
    if (groups !== moe.NUM_EXPERT_GROUPS) {
      fail(g.file, `${k('expert_group_count')} = ${groups}: Pangu Pro MoE routes over ${moe.NUM_EXPERT_GROUPS} expert groups`);
    }
    const gating = g.uint(k('expert_gating_func'), EXPERT_GATING_SOFTMAX);
    if (gating !== EXPERT_GATING_SOFTMAX) fail(g.file, `${k('expert_gating_func')} = ${gating}: MoGE routes on a softmax (1)`);
    if (g.bool(k('expert_weights_norm'), false)) fail(g.file, `${k('expert_weights_norm')} is true: MoGE weights are not renormalised`);
    Object.assign(raw, {
      model_type: moe.MODEL_TYPE, architectures: [moe.ARCHITECTURE],
      num_experts: g.uint(k('expert_count')),
      num_experts_per_tok: g.uint(k('expert_used_count')),
      moe_intermediate_size: g.uint(k('expert_feed_forward_length')),
      shared_expert_intermediate_size: g.uint(k('expert_shared_feed_forward_length'), 0),
    });
  }
  return parseModelArgs(raw, g.file);
}

export interface GgufMetadataOptions {
  /** general.name */
  name: string;
  /** general.file_type (a LLAMA_FTYPE value). */
  fileType: number;
  /** The checkpoint directory whose tokenizer.model / tokenizer_config.json are embedded (if it has them). */
  tokenizerDir?: string;
}

/** The metadata a converted file carries, keys in llama.cpp's converter order. */
export function ggufMetadata(args: DecoderArgs, opts: GgufMetadataOptions): GgufMetadata {
  const arch = ggufArchitectureOf(args);
  const k = (s: string) => `${arch}.${s}`;
  const m: GgufMetadata = new Map();
  m.set('general.architecture', kv.str(arch));
  m.set('general.type', kv.str('model'));
  m.set('general.name', kv.str(opts.name));
  m.set(k('block_count'), kv.u32(args.num_hidden_layers));
  m.set(k('context_length'), kv.u32(args.max_position_embeddings));
  m.set(k('embedding_length'), kv.u32(args.hidden_size));
  if (args.model_type === embedded.MODEL_TYPE) {
    m.set(k('feed_forward_length'), kv.u32((args as embedded.PanguEmbeddedArgs).intermediate_size));
  }
  m.set(k('attention.head_count'), kv.u32(args.num_attention_heads));
  m.set(k('attention.head_count_kv'), kv.u32(args.num_key_value_heads));
  m.set(k('rope.freq_base'), kv.f32(args.rope_theta));
  m.set(k('attention.layer_norm_rms_epsilon'), kv.f32(args.rms_norm_eps));
  if (args.model_type === moe.MODEL_TYPE) {
    const a = args as moe.PanguMoeArgs;
    m.set(k('expert_count'), kv.u32(a.num_experts));
    m.set(k('expert_used_count'), kv.u32(a.num_experts_per_tok));
    m.set(k('expert_group_count'), kv.u32(a.num_groups));
    m.set(k('expert_group_used_count'), kv.u32(a.num_groups));
    m.set(k('expert_feed_forward_length'), kv.u32(a.moe_intermediate_size));
    m.set(k('expert_shared_feed_forward_length'), kv.u32(a.shared_expert_intermediate_size));
    m.set(k('expert_shared_count'), kv.u32(a.shared_expert_intermediate_size > 0 ? 1 : 0));
    m.set(k('expert_gating_func'), kv.u32(EXPERT_GATING_SOFTMAX));
    m.set(k('expert_weights_norm'), kv.bool(false));
  }
  m.set('general.file_type', kv.u32(opts.fileType));
  m.set(k('vocab_size'), kv.u32(args.vocab_size));
  m.set(k('rope.dimension_count'), kv.u32(args.head_dim));
  m.set(k('attention.key_length'), kv.u32(args.head_dim));
  m.set(k('attention.value_length'), kv.u32(args.head_dim));
  m.set('general.quantization_version', kv.u32(GGML_QUANT_VERSION));
  // The tokenizer (docs/GGUF.md, "Tokenizer"): the directory's SentencePiece vocabulary, or
  // llama.cpp's "no_vocab" marker (token-id level use only) when there is none.
  const vocab = opts.tokenizerDir !== undefined
    ? tokenizerMetadata(opts.tokenizerDir, { vocabSize: args.vocab_size, config: readConfigJson(opts.tokenizerDir), eosTokenIds: args.eos_token_id })
    : undefined;
  for (const [key, value] of vocab ?? noVocabMetadata(args.bos_token_id, args.eos_token_id)) m.set(key, value);
  return m;
}
