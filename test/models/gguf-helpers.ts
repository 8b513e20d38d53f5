// Test checkpoints whose decisions are clear, so lower-precision paths can be asked to agree.
import { Checkpoint, writeCheckpoint } from '../../src/formats/checkpoint.js';
import { fromFloat32 } from '../../src/formats/dtype.js';
import type { TensorToWrite } from '../../src/formats/safetensors.js';
import { Rng } from '../../src/engine/sampler.js';
import type { RawConfig } from '../../src/models/config.js';
import { writeSyntheticModel, type SyntheticOptions } from '../../src/models/synthetic.js';

/**
 * A synthetic checkpoint whose greedy next token is clear: lm_head row π(t) is the embedding of
 * token t (π a fixed random permutation), so the logit of π(current token) stands far above the
 * rest (about |e|² = hidden_size against random dot products of about sqrt(hidden_size)).
 * Greedy decoding walks the permutation whatever small perturbation the weights get.
 */
export function writeClearModel(dir: string, config: RawConfig, opts: SyntheticOptions = {}): void {
  writeSyntheticModel(dir, config, opts);
  const ckpt = Checkpoint.open(dir);
  const tensors: TensorToWrite[] = [];
  try {
    const embed = ckpt.readF32('model.embed_tokens.weight');
    const [v, d] = ckpt.info('model.embed_tokens.weight').shape as [number, number];
    const rng = new Rng(opts.seed ?? 0);
    const perm = Array.from({ length: v }, (_, i) => i);
    for (let i = v - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const head = new Float32Array(v * d);
    for (let t = 0; t < v; t++) head.set(embed.subarray(t * d, (t + 1) * d), perm[t]! * d);
    for (const name of ckpt.names()) {
      const info = ckpt.info(name);
      tensors.push({ name, dtype: info.dtype, shape: info.shape, data: name === 'lm_head.weight' ? fromFloat32(info.dtype, head) : ckpt.read(name) });
    }
  } finally {
    ckpt.close();
  }
  writeCheckpoint(dir, tensors, opts.shardBytes);
}
