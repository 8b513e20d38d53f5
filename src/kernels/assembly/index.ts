// Entry point of the kernel module. Every export takes byte offsets into the
// imported shared memory (env.memory) plus sizes; nothing allocates, and the
// module has no data segments, so any number of instances (one per thread)
// can share one memory.
export { matmul_f32, matmul_bf16, matmul_f16, float_matmul_scratch_bytes } from "./matmul_float";
export { matmul_q8_0, matmul_q4_0, matmul_q5_0, matmul_q8_0_f32, matmul_q4_0_f32, qmatmul_scratch_bytes } from "./matmul_quant";
export {
  f32_to_bf16_row, bf16_to_f32_row, f32_to_f16_row, f16_to_f32_row,
  quantize_q8_0, dequantize_q8_0, quantize_q8_k, quantize_q4_0, dequantize_q4_0,
} from "./convert";
export { stream_triad, stream_sum } from "./stream";
export { rmsnorm, rmsnorm_f64, softmax, swiglu, add, mul, axpy, scale, rope_neox } from "./ops";
export { attention, attention_f16kv, attention_bf16kv } from "./attention";
export { kquant_takes_q8_k, matmul_q4_k, matmul_q5_k, matmul_q6_k, matmul_q4_k_f32, matmul_q5_k_f32, matmul_q6_k_f32 } from "./matmul_kquant";
export { dequantize_q4_k } from "./matmul_q4k";
export { matmul_q4_k_x4, matmul_q8_0_x4, matmul_q5_0_x4, matmul_q4_0_x4, interleave_q4_k, interleave_q8_0, interleave_q5_0, interleave_q4_0 } from "./matmul_x4";
export { dequantize_q5_k, dequantize_q6_k } from "./matmul_q56k";
export { quantize_q4_k, quantize_q5_k, quantize_q6_k } from "./quantize_kquant";
