// A trainable Pangu model (Pro MoE or Embedded): parameters under their Hugging Face names, a
// forward pass that keeps the activations the backward pass needs, and the backward pass.
import { Rng } from '../engine/sampler.js';
import { expectedTensors } from '../models/load.js';
import type { PanguEmbeddedArgs } from '../models/pangu-embedded.js';
import type { PanguMoeArgs } from '../models/pangu-moe.js';
import type { DecoderArgs } from '../models/transformer.js';
import { type Arr, type MatOps } from './gemm.js';
import {
  attentionBackward, attentionForward, crossEntropy, embedBackward, embedForward, linearBackward, linearForward,
  ropeApply, ropeTable, rmsnormBackward, rmsnormForward, swigluBackward, swigluForward,
  type AttentionCache, type RopeTable, type SwigluCache,
} from './layers.js';
import { makeRouter, moeBackward, moeForward, type MoeCache, type MoeShape, type MoeWeights, type RouterKind } from './moe.js';

export interface Param {
  name: string;
  shape: number[];
  data: Arr;
  grad: Arr;
  /** AdamW applies weight decay to matrices only (not to norms, biases or router_scale). */
  decay: boolean;
}

export interface Batch {
  B: number;
  T: number;
  /** [B*T] input ids. */
  inputs: Int32Array;
  /** [B*T] next-token targets; -1 = not counted. */
  targets: Int32Array;
}

export interface ForwardResult {
  /** Mean cross-entropy over the counted targets. */
  ce: number;
  /** router_aux_loss_coef · mean over MoE layers of E · Σ_e f_e P_e (0 for dense models). */
  aux: number;
  /** ce + aux: what the backward pass differentiates. */
  loss: number;
  /** Expert call counts per MoE layer, [E] each (empty for dense models). */
  counts: Float64Array[];
  /** Per MoE layer: the layer's aux value E · Σ_e f_e P_e (before the coefficient). */
  auxPerLayer: number[];
  /** Per MoE layer: the chosen experts [B*T, k]. */
  expertIds: Int32Array[];
  /** The logits [B*T, V], when asked for. */
  logits?: Arr;
}

interface LayerCache {
  x0: Arr; h1: Arr; r1: Arr; q: Arr; k: Arr; v: Arr; att: AttentionCache; y: Arr; x1: Arr; h2: Arr; r2: Arr;
  moe?: MoeCache;
  mlp?: SwigluCache;
}

interface Caches {
  batch: Batch;
  layers: LayerCache[];
  xf: Arr; hf: Arr; rf: Arr;
  dlogits: Arr;
}

export interface InitOptions {
  seed?: number;
  /** Standard deviation of the normal init of matrices (output projections get std / sqrt(2 · layers)). */
  std?: number;
}

export type ModelArgs = (PanguMoeArgs | PanguEmbeddedArgs) & DecoderArgs;

export function isMoe(args: DecoderArgs): args is PanguMoeArgs {
  return args.model_type === 'PanguProMoE';
}

export class TrainModel {
  readonly params: Param[];
  readonly byName = new Map<string, Param>();
  readonly moeShape: MoeShape | null;
  private readonly router;
  private rope: RopeTable | null = null;
  private caches: Caches | null = null;

  /** routerKind defaults to the config's ("pangu_ts_router", else MoGE). */
  constructor(readonly args: DecoderArgs, readonly ops: MatOps, routerKind?: RouterKind) {
    this.params = expectedTensors(args).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const p: Param = { name, shape, data: ops.zeros(size), grad: ops.zeros(size), decay: shape.length === 2 && shape[0]! > 1 };
      this.byName.set(name, p);
      return p;
    });
    if (isMoe(args)) {
      this.moeShape = {
        D: args.hidden_size, E: args.num_experts, k: args.num_experts_per_tok, groups: args.num_groups,
        I: args.moe_intermediate_size, sharedI: args.shared_expert_intermediate_size, router: routerKind ?? args.router ?? 'moge',
      };
      this.router = makeRouter(this.moeShape);
    } else {
      this.moeShape = null;
      this.router = null;
    }
  }

  /** Normal(0, std) matrices (Box-Muller on a seeded generator), ones for norms and router_scale, zero biases. */
  init(opts: InitOptions = {}): void {
    const rng = new Rng(opts.seed ?? 0);
    const std = opts.std ?? 0.02;
    const outStd = std / Math.sqrt(2 * this.args.num_hidden_layers);
    const normal = (): number => {
      const u = Math.max(rng.next(), 1e-12), v = rng.next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    for (const p of this.params) {
      if (p.name.endsWith('norm.weight') || p.name.endsWith('router_scale')) p.data.fill(1);
      else if (p.name.endsWith('.bias')) p.data.fill(0);
      else {
        const sd = /(o_proj|down_proj)\.weight$/.test(p.name) ? outStd : std;
        for (let i = 0; i < p.data.length; i++) p.data[i] = normal() * sd;
      }
    }
  }

  p(name: string): Arr {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p.data;
  }

  g(name: string): Arr {
    return this.byName.get(name)!.grad;
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  get parameterCount(): number {
    return this.params.reduce((a, p) => a + p.data.length, 0);
  }

  /** Parameters used per token (one token's experts, not all of them), for FLOP estimates. */
  get activeParameterCount(): number {
    const s = this.moeShape;
    if (!s) return this.parameterCount;
    const perExpert = 3 * s.D * s.I;
    return this.parameterCount - this.args.num_hidden_layers * (s.E - s.k) * perExpert;
  }

  private moeWeights(i: number, grads: boolean): MoeWeights {
    const s = this.moeShape!;
    const get = grads ? (n: string) => this.g(n) : (n: string) => this.p(n);
    const pre = `model.layers.${i}.mlp`;
    const sw = (q: string) => ({ g: get(`${q}.gate_proj.weight`), u: get(`${q}.up_proj.weight`), d: get(`${q}.down_proj.weight`) });
    return {
      gate: get(`${pre}.gate.weight`),
      routerScale: get(`${pre}.router_scale`),
      experts: Array.from({ length: s.E }, (_, e) => sw(`${pre}.experts.${e}`)),
      shared: s.sharedI > 0 ? sw(`${pre}.shared_expert`) : null,
    };
  }

  /**
   * Runs the model on a batch; keeps the activations for backward() unless `keep` is false.
   * `wantLogits` returns the logits (before the loss overwrites them with their gradient).
   */
  forward(batch: Batch, opts: { keep?: boolean; wantLogits?: boolean } = {}): ForwardResult {
    const ops = this.ops, a = this.args;
    const { B, T } = batch;
    const n = B * T, d = a.hidden_size, V = a.vocab_size, eps = a.rms_norm_eps;
    const H = a.num_attention_heads, KV = a.num_key_value_heads, hd = a.head_dim;
    if (!this.rope || this.rope.cos.length < T * (hd / 2)) this.rope = ropeTable(T, hd, a.rope_theta);
    const ashape = { B, T, heads: H, kvHeads: KV, headDim: hd };
    let x = ops.zeros(n * d);
    embedForward(x, this.p('model.embed_tokens.weight'), batch.inputs, d);
    const layers: LayerCache[] = [];
    const counts: Float64Array[] = [], auxPerLayer: number[] = [], expertIds: Int32Array[] = [];
    for (let i = 0; i < a.num_hidden_layers; i++) {
      const pre = `model.layers.${i}`;
      const x0 = x;
      const h1 = ops.zeros(n * d);
      const r1 = rmsnormForward(ops, h1, x0, this.p(`${pre}.input_layernorm.weight`), n, d, eps);
      const q = ops.zeros(n * H * hd), k = ops.zeros(n * KV * hd), v = ops.zeros(n * KV * hd);
      linearForward(ops, q, h1, this.p(`${pre}.self_attn.q_proj.weight`), this.p(`${pre}.self_attn.q_proj.bias`), n, d, H * hd);
      linearForward(ops, k, h1, this.p(`${pre}.self_attn.k_proj.weight`), this.p(`${pre}.self_attn.k_proj.bias`), n, d, KV * hd);
      linearForward(ops, v, h1, this.p(`${pre}.self_attn.v_proj.weight`), this.p(`${pre}.self_attn.v_proj.bias`), n, d, KV * hd);
      ropeApply(q, n, T, H, hd, this.rope);
      ropeApply(k, n, T, KV, hd, this.rope);
      const y = ops.zeros(n * H * hd);
      const att = attentionForward(ops, y, q, k, v, ashape);
      const x1 = ops.zeros(n * d);
      linearForward(ops, x1, y, this.p(`${pre}.self_attn.o_proj.weight`), this.p(`${pre}.self_attn.o_proj.bias`), n, H * hd, d);
      for (let j = 0; j < n * d; j++) x1[j]! += x0[j]!;
      const h2 = ops.zeros(n * d);
      const r2 = rmsnormForward(ops, h2, x1, this.p(`${pre}.post_attention_layernorm.weight`), n, d, eps);
      const f = ops.zeros(n * d);
      const lc: LayerCache = { x0, h1, r1, q, k, v, att, y, x1, h2, r2 };
      if (this.moeShape) {
        lc.moe = moeForward(ops, f, h2, this.moeWeights(i, false), n, this.moeShape, this.router!);
        counts.push(lc.moe.counts);
        auxPerLayer.push(lc.moe.aux);
        expertIds.push(lc.moe.ids);
      } else {
        const I = (a as PanguEmbeddedArgs).intermediate_size;
        lc.mlp = swigluForward(ops, f, h2, this.p(`${pre}.mlp.gate_proj.weight`), this.p(`${pre}.mlp.up_proj.weight`),
          this.p(`${pre}.mlp.down_proj.weight`), n, d, I);
      }
      for (let j = 0; j < n * d; j++) f[j]! += x1[j]!;
      x = f;
      layers.push(lc);
    }
    const hf = ops.zeros(n * d);
    const rf = rmsnormForward(ops, hf, x, this.p('model.norm.weight'), n, d, eps);
    const logits = ops.zeros(n * V);
    ops.gemm(logits, hf, this.p('lm_head.weight'), n, d, V, { tb: true });
    const kept = opts.wantLogits ? logits.slice() : undefined;
    const { loss: ce } = crossEntropy(logits, batch.targets, n, V);
    const coef = isMoe(a) ? a.router_aux_loss_coef : 0;
    const aux = auxPerLayer.length ? (coef * auxPerLayer.reduce((s, z) => s + z, 0)) / auxPerLayer.length : 0;
    this.caches = opts.keep === false ? null : { batch, layers, xf: x, hf, rf, dlogits: logits };
    const result: ForwardResult = { ce, aux, loss: ce + aux, counts, auxPerLayer, expertIds };
    if (kept) result.logits = kept;
    return result;
  }

  /** Gradients of the last forward's loss, added into every parameter's grad. */
  backward(): void {
    const c = this.caches;
    if (!c) throw new Error('backward() needs a forward() that kept its activations');
    this.caches = null;
    const ops = this.ops, a = this.args;
    const { B, T } = c.batch;
    const n = B * T, d = a.hidden_size, V = a.vocab_size;
    const H = a.num_attention_heads, KV = a.num_key_value_heads, hd = a.head_dim;
    const ashape = { B, T, heads: H, kvHeads: KV, headDim: hd };
    const dhf = ops.zeros(n * d);
    linearBackward(ops, dhf, this.g('lm_head.weight'), null, c.dlogits, c.hf, this.p('lm_head.weight'), n, d, V, false);
    const dx = ops.zeros(n * d);
    rmsnormBackward(dx, this.g('model.norm.weight'), dhf, c.xf, this.p('model.norm.weight'), c.rf, n, d, false);
    const auxGrad = isMoe(a) ? a.router_aux_loss_coef / a.num_hidden_layers : 0;
    for (let i = a.num_hidden_layers - 1; i >= 0; i--) {
      const pre = `model.layers.${i}`;
      const lc = c.layers[i]!;
      // x2 = x1 + ffn(norm(x1))
      const dh2 = ops.zeros(n * d);
      if (lc.moe) {
        moeBackward(ops, dh2, this.moeWeights(i, true), dx, lc.h2, this.moeWeights(i, false), lc.moe, this.moeShape!, auxGrad, false);
      } else {
        const I = (a as PanguEmbeddedArgs).intermediate_size;
        swigluBackward(ops, dh2, this.g(`${pre}.mlp.gate_proj.weight`), this.g(`${pre}.mlp.up_proj.weight`), this.g(`${pre}.mlp.down_proj.weight`),
          dx, lc.h2, this.p(`${pre}.mlp.gate_proj.weight`), this.p(`${pre}.mlp.up_proj.weight`), this.p(`${pre}.mlp.down_proj.weight`), lc.mlp!, n, d, I, false);
      }
      rmsnormBackward(dx, this.g(`${pre}.post_attention_layernorm.weight`), dh2, lc.x1, this.p(`${pre}.post_attention_layernorm.weight`), lc.r2, n, d, true);
      // x1 = x0 + o_proj(attn(rope(q), rope(k), v))
      const dy = ops.zeros(n * H * hd);
      linearBackward(ops, dy, this.g(`${pre}.self_attn.o_proj.weight`), this.g(`${pre}.self_attn.o_proj.bias`), dx, lc.y,
        this.p(`${pre}.self_attn.o_proj.weight`), n, H * hd, d, false);
      const dq = ops.zeros(n * H * hd), dk = ops.zeros(n * KV * hd), dv = ops.zeros(n * KV * hd);
      attentionBackward(ops, dq, dk, dv, dy, lc.q, lc.k, lc.v, lc.att, ashape);
      ropeApply(dq, n, T, H, hd, this.rope!, -1);
      ropeApply(dk, n, T, KV, hd, this.rope!, -1);
      const dh1 = ops.zeros(n * d);
      linearBackward(ops, dh1, this.g(`${pre}.self_attn.q_proj.weight`), this.g(`${pre}.self_attn.q_proj.bias`), dq, lc.h1, this.p(`${pre}.self_attn.q_proj.weight`), n, d, H * hd, false);
      linearBackward(ops, dh1, this.g(`${pre}.self_attn.k_proj.weight`), this.g(`${pre}.self_attn.k_proj.bias`), dk, lc.h1, this.p(`${pre}.self_attn.k_proj.weight`), n, d, KV * hd, true);
      linearBackward(ops, dh1, this.g(`${pre}.self_attn.v_proj.weight`), this.g(`${pre}.self_attn.v_proj.bias`), dv, lc.h1, this.p(`${pre}.self_attn.v_proj.weight`), n, d, KV * hd, true);
      rmsnormBackward(dx, this.g(`${pre}.input_layernorm.weight`), dh1, lc.x0, this.p(`${pre}.input_layernorm.weight`), lc.r1, n, d, true);
    }
    embedBackward(this.g('model.embed_tokens.weight'), dx, c.batch.inputs, d);
  }
}
