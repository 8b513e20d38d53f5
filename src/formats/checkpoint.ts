// A Hugging Face checkpoint directory: model.safetensors, or shards listed in
// model.safetensors.index.json. Only headers are read at open; tensors on demand.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toFloat32 } from './dtype.js';
import { FormatError, SafetensorsFile, tensorBytes, writeSafetensors, type TensorInfo, type TensorToWrite } from './safetensors.js';
import type { SourceTensorInfo, TensorSource } from './tensor-source.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

export class Checkpoint implements TensorSource {
  private constructor(
    readonly dir: string,
    private readonly files: SafetensorsFile[],
    private readonly where: Map<string, SafetensorsFile>,
  ) {}

  static open(dir: string): Checkpoint {
    const indexPath = path.join(dir, INDEX_FILE);
    if (fs.existsSync(indexPath)) return Checkpoint.openSharded(dir, indexPath);
    const single = path.join(dir, SINGLE_FILE);
    if (!fs.existsSync(single)) {
      throw new FormatError(dir, `no checkpoint: neither ${INDEX_FILE} nor ${SINGLE_FILE} is present`);
    }
    const file = SafetensorsFile.open(single);
    return new Checkpoint(dir, [file], new Map([...file.tensors.keys()].map((n) => [n, file])));
  }

  private static openSharded(dir: string, indexPath: string): Checkpoint {
    let index: unknown;
    try {
      index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new FormatError(indexPath, `not valid JSON: ${(e as Error).message}`);
    }
    const weightMap = (index as { weight_map?: unknown })?.weight_map;
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
      throw new FormatError(indexPath, 'has no weight_map object');
    }
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
        throw new FormatError(indexPath, `weight_map names an invalid shard ${JSON.stringify(shard)}`, name);
      }
      if (!byShard.has(shard)) byShard.set(shard, []);
      byShard.get(shard)!.push(name);
    }
    const files: SafetensorsFile[] = [];
    const where = new Map<string, SafetensorsFile>();
    try {
      for (const [shard, names] of byShard) {
        const shardPath = path.join(dir, shard);
        if (!fs.existsSync(shardPath)) {
          throw new FormatError(indexPath, `missing shard ${shard} (holds ${names.length} tensors, e.g. '${names[0]}')`);
        }
        const file = SafetensorsFile.open(shardPath);
        files.push(file);
        for (const name of names) {
          if (!file.tensors.has(name)) {
            throw new FormatError(shardPath, `named in ${INDEX_FILE} but not present in this shard`, name);
          }
          where.set(name, file);
        }
      }
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    return new Checkpoint(dir, files, where);
  }

  get location(): string {
    return this.dir;
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.where.get(name);
    if (!file) throw new FormatError(this.dir, 'missing from the checkpoint', name);
    return file.tensors.get(name)!;
  }

  /** Raw bytes of one tensor, read from disk now. */
  read(name: string): Uint8Array {
    this.info(name);
    return this.where.get(name)!.read(name);
  }

  /** Reads dst.byteLength bytes of one tensor from byte `start` on, straight into `dst`. */
  readInto(name: string, start: number, dst: Uint8Array): void {
    this.info(name);
    this.where.get(name)!.readInto(name, start, dst);
  }

  /** One tensor as float32, with its shape checked when `shape` is given. */
  readF32(name: string, shape?: readonly number[]): Float32Array {
    const info = this.info(name);
    if (shape) expectShape(info, shape);
    return toFloat32(info.dtype, this.read(name));
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

export function expectShape(info: Pick<SourceTensorInfo, 'name' | 'shape' | 'file'>, shape: readonly number[]): void {
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(info.file, `has shape ${JSON.stringify(info.shape)}, expected ${JSON.stringify(shape)}`, info.name);
  }
}

/**
 * Writes tensors as a Hugging Face checkpoint: one model.safetensors, or, when they exceed
 * `shardBytes`, shards model-0000k-of-0000N.safetensors plus model.safetensors.index.json.
 */
export function writeCheckpoint(dir: string, tensors: readonly TensorToWrite[], shardBytes = 5e9): void {
  fs.mkdirSync(dir, { recursive: true });
  const shards: TensorToWrite[][] = [[]];
  let filled = 0;
  for (const t of tensors) {
    const bytes = tensorBytes(t);
    if (filled > 0 && filled + bytes > shardBytes) {
      shards.push([]);
      filled = 0;
    }
    shards[shards.length - 1]!.push(t);
    filled += bytes;
  }
  if (shards.length === 1) {
    writeSafetensors(path.join(dir, SINGLE_FILE), shards[0]!);
    return;
  }
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((list, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(path.join(dir, name), list);
    for (const t of list) {
      weightMap[t.name] = name;
      total += tensorBytes(t);
    }
  });
  fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
}
