// Pangu Pro MoE: every layer a Mixture of Grouped Experts (MoGE) plus an ungated shared expert.
import { ConfigReader } from './config.js';
import { groupedRouter, MixtureOfExperts, topKRouter } from './layers/moe.js';
import { parseDecoderArgs, Transformer, WeightLoader, type DecoderArgs } from './transformer.js';

export const MODEL_TYPE = 'PanguProMoE';
export const ARCHITECTURE = 'PanguProMoEForCausalLM';

/** Hard-coded in the reference implementation: experts form 8 contiguous groups. */
export const NUM_EXPERT_GROUPS = 8;

export interface PanguMoeArgs extends DecoderArgs {
  num_experts: number;
  num_experts_per_tok: number;
  moe_intermediate_size: number;
  shared_expert_intermediate_size: number;
  router_aux_loss_coef: number;
  /** Not a config key: NUM_EXPERT_GROUPS. */
  num_groups: number;
  /**
   * "moge" (the released model), or "topk": plain top-k over all experts, for checkpoints that
   * `pangu train --router topk` wrote to compare with MoGE (config key "pangu_ts_router").
   */
  router: 'moge' | 'topk';
}

export function parseArgs(c: ConfigReader): PanguMoeArgs {
  const args: PanguMoeArgs = {
    ...parseDecoderArgs(c, MODEL_TYPE),
    num_experts: c.int('num_experts'),
    num_experts_per_tok: c.int('num_experts_per_tok', NUM_EXPERT_GROUPS),
    moe_intermediate_size: c.int('moe_intermediate_size'),
    shared_expert_intermediate_size: c.int('shared_expert_intermediate_size', 0, 0),
    router_aux_loss_coef: c.nonNegative('router_aux_loss_coef', 0.001),
    num_groups: NUM_EXPERT_GROUPS,
    router: c.string('pangu_ts_router', 'moge') as 'moge' | 'topk',
  };
  if (args.router !== 'moge' && args.router !== 'topk') c.fail(`"pangu_ts_router" must be "moge" or "topk", got ${JSON.stringify(args.router)}`);
  c.divisible('num_experts', args.num_experts, 'the number of expert groups', NUM_EXPERT_GROUPS);
  c.divisible('num_experts_per_tok', args.num_experts_per_tok, 'the number of expert groups', NUM_EXPERT_GROUPS);
  if (args.num_experts_per_tok > args.num_experts) {
    c.fail(`"num_experts_per_tok" (${args.num_experts_per_tok}) exceeds "num_experts" (${args.num_experts})`);
  }
  return args;
}

export function load(args: PanguMoeArgs, w: WeightLoader): Transformer {
  const { hidden_size: d, num_experts: e } = args;
  const router = args.router === 'topk' ? topKRouter(args.num_experts_per_tok) : groupedRouter(e, args.num_groups, args.num_experts_per_tok);
  return Transformer.load(args, w, (i) => {
    const p = `model.layers.${i}.mlp`;
    const perGroup = e / args.num_groups;
    const experts = Array.from({ length: e }, (_, j) =>
      w.swiglu(`${p}.experts.${j}`, d, args.moe_intermediate_size, { group: Math.floor(j / perGroup), groups: args.num_groups }));
    const shared = args.shared_expert_intermediate_size > 0
      ? w.swiglu(`${p}.shared_expert`, d, args.shared_expert_intermediate_size) : null;
    const gate = w.linear(`${p}.gate`, e, d, false), scale = w.vector(`${p}.router_scale`, [1, e]);
    const fused = args.router === 'moge' ? w.backend.mogeBlock?.(gate, scale, experts, shared, args.num_groups, args.num_experts_per_tok) ?? null : null;
    return new MixtureOfExperts(gate, scale, experts, shared, args.num_experts_per_tok, router, fused);
  });
}
