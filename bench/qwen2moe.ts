// A llama.cpp `qwen2moe` twin of a `pangu-moe` GGUF, for the speed comparison only: llama.cpp has
// no Pangu Pro MoE architecture, and qwen2moe is its closest one (softmax top-k routing over the
// same experts, a shared expert, biased q/k/v). Same tensors and shapes; the router_scale tensor
// and the o_proj bias are dropped and a zero shared-expert gate is added (qwen2moe gates its
// shared expert with a sigmoid). Its outputs mean nothing; its work per token is the same.
import { GgufFile, kv, writeGguf, type GgufMetadata, type GgufTensorToWrite } from '../src/formats/gguf.js';

export function writeQwen2MoeTwin(panguMoe: string, out: string): void {
  const src = GgufFile.open(panguMoe);
  try {
    const key = (k: string) => src.metadata.get(`pangu-moe.${k}`)!;
    const meta: GgufMetadata = new Map();
    meta.set('general.architecture', kv.str('qwen2moe'));
    meta.set('general.name', kv.str('qwen2moe twin of ' + src.string('general.name')));
    meta.set('general.file_type', src.metadata.get('general.file_type')!);
    meta.set('general.quantization_version', src.metadata.get('general.quantization_version')!);
    for (const k of ['block_count', 'context_length', 'embedding_length', 'attention.head_count', 'attention.head_count_kv',
      'rope.freq_base', 'attention.layer_norm_rms_epsilon', 'expert_count', 'expert_used_count',
      'expert_feed_forward_length', 'expert_shared_feed_forward_length', 'vocab_size']) {
      meta.set(`qwen2moe.${k}`, key(k));
    }
    meta.set('qwen2moe.feed_forward_length', key('expert_feed_forward_length'));
    for (const k of ['tokenizer.ggml.model', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id']) meta.set(k, src.metadata.get(k)!);
    const hidden = src.uint('pangu-moe.embedding_length');
    const tensors: GgufTensorToWrite[] = [];
    for (const t of src.tensors.values()) {
      if (t.name.endsWith('ffn_down_exps.scale') || t.name.endsWith('attn_output.bias')) continue;
      tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => src.read(t.name) });
      const layer = /^blk\.(\d+)\.ffn_gate_inp\.weight$/.exec(t.name);
      if (layer) tensors.push({ name: `blk.${layer[1]}.ffn_gate_inp_shexp.weight`, dtype: 'F32', shape: [hidden], data: new Uint8Array(hidden * 4) });
    }
    writeGguf(out, meta, tensors);
  } finally {
    src.close();
  }
}
