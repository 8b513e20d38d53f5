// Opening a model: a directory (config.json picks the architecture, the safetensors checkpoint
// supplies weights) or a .gguf file (its metadata gives the args, its tensors the weights).
import * as fs from 'node:fs';
import type { Backend, HostTensor } from '../backend/backend.js';
import { ReferenceBackend } from '../backend/reference.js';
import { Checkpoint } from '../formats/checkpoint.js';
import { GgufFile, GGUF_MAGIC } from '../formats/gguf.js';
import type { TensorSource } from '../formats/tensor-source.js';
import { ConfigReader, readConfigFile, type RawConfig } from './config.js';
import { ggufModelArgs, GgufTensorSource } from './gguf-arch.js';
import * as embedded from './pangu-embedded.js';
import * as moe from './pangu-moe.js';
import { WeightLoader, type DecoderArgs, type Transformer } from './transformer.js';

interface Architecture {
  MODEL_TYPE: string;
  ARCHITECTURE: string;
  parseArgs(c: ConfigReader): DecoderArgs;
  load(args: never, w: WeightLoader): Transformer;
}

const ARCHITECTURES: readonly Architecture[] = [moe, embedded];

function architectureOf(args: DecoderArgs): Architecture {
  return ARCHITECTURES.find((a) => a.MODEL_TYPE === args.model_type)!;
}

/** Parses a config.json object of a supported architecture, chosen by model_type or architectures[0]. */
export function parseModelArgs(raw: RawConfig, file = 'config.json'): DecoderArgs {
  const c: ConfigReader = new ConfigReader(file, raw);
  const modelType = raw['model_type'];
  const archs = Array.isArray(raw['architectures']) ? raw['architectures'] : [];
  const arch = ARCHITECTURES.find((a) => a.MODEL_TYPE === modelType) ??
    (modelType === undefined ? ARCHITECTURES.find((a) => archs.includes(a.ARCHITECTURE)) : undefined);
  if (!arch) {
    const known = ARCHITECTURES.map((a) => a.MODEL_TYPE).join(', ');
    c.fail(`unsupported model_type ${JSON.stringify(modelType)} (architectures ${JSON.stringify(archs)}); supported: ${known}`);
  }
  return arch.parseArgs(c);
}

export function readModelArgs(dir: string): DecoderArgs {
  const { file, raw } = readConfigFile(dir);
  return parseModelArgs(raw, file);
}

/** Builds the model from whatever tensors `w` supplies. */
export function buildModel(args: DecoderArgs, w: WeightLoader): Transformer {
  return architectureOf(args).load(args as never, w);
}

export interface LoadOptions {
  backend?: Backend;
}

/** True when `file` is a regular file starting with the GGUF magic (or named *.gguf). */
export function isGgufFile(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return file.endsWith('.gguf');
  }
  if (!st.isFile()) return false;
  if (file.endsWith('.gguf')) return true;
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return fs.readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === GGUF_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}

/** The args and tensors of a model directory or GGUF file; the caller closes the source. */
export function openModelSource(location: string): { args: DecoderArgs; source: TensorSource } {
  if (isGgufFile(location)) {
    const g = GgufFile.open(location);
    try {
      return { args: ggufModelArgs(g), source: new GgufTensorSource(g) };
    } catch (e) {
      g.close();
      throw e;
    }
  }
  const args = readModelArgs(location);
  return { args, source: Checkpoint.open(location) };
}

/** Bytes of all tensors of a model directory or GGUF file (its weights as stored). */
export function modelBytes(location: string): number {
  const { source } = openModelSource(location);
  try {
    return source.names().reduce((sum, name) => sum + source.info(name).byteLength, 0);
  } finally {
    source.close();
  }
}

/** Loads a model from a Hugging Face directory or a .gguf file. */
export function loadModel(location: string, opts: LoadOptions = {}): Transformer {
  const { args, source } = openModelSource(location);
  try {
    return buildModel(args, new WeightLoader(source, opts.backend ?? new ReferenceBackend()));
  } finally {
    source.close();
  }
}

/** Records the name and shape of every tensor a model reads, without reading any. */
class ShapeRecorder extends WeightLoader {
  readonly seen: { name: string; shape: number[] }[] = [];

  override tensor(name: string, shape: readonly number[]): HostTensor {
    this.seen.push({ name, shape: [...shape] });
    return { name, dtype: 'F32', shape: [...shape], bytes: new Uint8Array(0) };
  }
}

/** The tensors (names and shapes) that a checkpoint of this architecture must hold. */
export function expectedTensors(args: DecoderArgs): { name: string; shape: number[] }[] {
  const rec = new ShapeRecorder(null, new ReferenceBackend());
  buildModel(args, rec);
  return rec.seen;
}
