// `pangu convert --model DIR --out FILE.gguf --type q8_0|q4_0|q4_k|q5_k|q6_k|q4_k_m|q5_k_m|f16|bf16|f32 [--name NAME]
// [--threads N]`: writes a Hugging Face checkpoint as one GGUF file, with progress on stderr; the
// block types are quantized by the wasm kernels on N threads (default: all of them).
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { WasmQuantizer } from '../backend/cpu/quantizer.js';
import { CONVERT_TYPES, convertToGguf, type ConvertType } from '../models/convert.js';
import { isGgufFile } from '../models/load.js';
import { integer, parse, UsageError } from './options.js';
import { formatBytes, formatDuration, Progress, type ProgressStream } from './progress.js';

export const CONVERT_HELP = `convert --model DIR --out FILE.gguf --type ${CONVERT_TYPES.join('|')} [--name NAME] [--threads N]`;

export async function runConvert(argv: string[], stderr: ProgressStream = process.stderr): Promise<number> {
  const { values } = parse(argv, {
    model: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' }, name: { type: 'string' },
    threads: { type: 'string' },
  });
  if (!values.model) throw new UsageError('--model DIR is required (a Hugging Face checkpoint directory)');
  if (!values.out) throw new UsageError('--out FILE.gguf is required');
  if (!values.type) throw new UsageError(`--type is required: one of ${CONVERT_TYPES.join(', ')}`);
  const type = values.type.toLowerCase() as ConvertType;
  if (!CONVERT_TYPES.includes(type)) throw new UsageError(`--type must be one of ${CONVERT_TYPES.join(', ')}, got ${JSON.stringify(values.type)}`);
  if (isGgufFile(values.model)) throw new UsageError(`--model ${values.model} is a GGUF file; convert reads a Hugging Face checkpoint directory`);
  const threads = integer('threads', values.threads, os.availableParallelism(), 1, 256);
  const t0 = performance.now();
  const quantizer = await WasmQuantizer.start(threads);
  const progress = new Progress('convert', { stream: stderr });
  let result;
  try {
    result = convertToGguf(values.model, values.out, {
      type, ...(values.name !== undefined ? { name: values.name } : {}),
      onProgress: (p) => progress.update(p),
      quantize: (dtype, x) => quantizer.quantize(dtype, x),
    });
  } finally {
    await quantizer.close();
  }
  progress.finish();
  const types = Object.entries(result.types).map(([k, n]) => `${n} ${k}`).join(', ');
  stderr.write(`wrote ${values.out}: ${result.tensors} tensors (${types}), ${formatBytes(result.bytes)} of tensor data in ${formatDuration(performance.now() - t0)}\n`);
  return 0;
}
