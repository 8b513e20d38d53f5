// Pangu Embedded (openPangu-Embedded-7B): dense SwiGLU MLP, biased attention, untied lm_head.
import { ConfigReader } from './config.js';
import { DenseMLP } from './layers/feed-forward.js';
import { parseDecoderArgs, Transformer, WeightLoader, type DecoderArgs } from './transformer.js';

export const MODEL_TYPE = 'PanguEmbedded';
export const ARCHITECTURE = 'PanguEmbeddedForCausalLM';

export interface PanguEmbeddedArgs extends DecoderArgs {
  intermediate_size: number;
  /** True: q/k/v/o projections carry biases (the MLP never does). */
  bias: boolean;
}

export function parseArgs(c: ConfigReader): PanguEmbeddedArgs {
  const args = { ...parseDecoderArgs(c, MODEL_TYPE), intermediate_size: c.int('intermediate_size'), bias: c.bool('bias', true) };
  if (!args.bias) c.fail('"bias": false is not a released Pangu Embedded layout (its attention projections carry biases)');
  return args;
}

export function load(args: PanguEmbeddedArgs, w: WeightLoader): Transformer {
  // model.layers.{i}.self_attn.rotary_emb.inv_freq also sits in the checkpoint: rope is computed, so it is ignored.
  return Transformer.load(args, w, (i) =>
    new DenseMLP(w.swiglu(`model.layers.${i}.mlp`, args.hidden_size, args.intermediate_size)));
}
