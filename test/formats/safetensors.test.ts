import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Checkpoint, writeCheckpoint } from '../../src/formats/checkpoint.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, fromFloat32, toFloat32 } from '../../src/formats/dtype.js';
import { FormatError, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/formats/safetensors.js';
import { tempDir } from '../helpers.js';

const values = Float32Array.from({ length: 12 }, (_, i) => (i - 5) * 0.37);

function sample(): TensorToWrite[] {
  return [
    { name: 'a', dtype: 'F32', shape: [3, 4], data: fromFloat32('F32', values) },
    { name: 'b', dtype: 'BF16', shape: [12], data: fromFloat32('BF16', values) },
    { name: 'c', dtype: 'F16', shape: [2, 6], data: fromFloat32('F16', values) },
  ];
}

/** Writes a file whose header is `header` (a JSON value or raw string) followed by `dataBytes` bytes. */
function rawFile(dir: string, header: unknown, dataBytes: number, lengthField?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  const file = path.join(dir, 'x.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return file;
}

function expectError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${e}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('dtype conversions round to nearest even and decode exactly', () => {
  assert.equal(bf16ToF32(f32ToBf16(1.0)), 1.0);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // halfway: ties to even (down)
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // halfway: ties to even (up)
  assert.equal(f16ToF32(f32ToF16(65504)), 65504);
  assert.equal(f16ToF32(f32ToF16(1e6)), Infinity);
  assert.equal(f16ToF32(f32ToF16(2 ** -24)), 2 ** -24); // smallest subnormal
  assert.equal(f16ToF32(f32ToF16(-0.1)), -0.0999755859375);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
  for (const dt of ['F32', 'BF16', 'F16'] as const) {
    const back = toFloat32(dt, fromFloat32(dt, values));
    values.forEach((v, i) => assert.ok(Math.abs(back[i]! - v) <= Math.abs(v) * 2 ** -8, `${dt} ${v} -> ${back[i]}`));
  }
});

test('a written file reads back tensor by tensor, with metadata', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, sample(), { format: 'pt', note: 'x' });
  const f = SafetensorsFile.open(file);
  assert.deepEqual(f.metadata, { format: 'pt', note: 'x' });
  assert.deepEqual([...f.tensors.keys()], ['a', 'b', 'c']);
  assert.deepEqual(f.tensors.get('c')!.shape, [2, 6]);
  assert.deepEqual(toFloat32('F32', f.read('a')), values);
  assert.equal((8 + Number(fs.readFileSync(file).readBigUInt64LE(0))) % 8, 0, 'header padded to 8 bytes');
  f.close();
});

test('sharded checkpoints open through the index; single files without one', () => {
  const dir = tempDir();
  writeCheckpoint(path.join(dir, 'sharded'), sample(), 40);
  const files = fs.readdirSync(path.join(dir, 'sharded')).sort();
  assert.deepEqual(files, ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors',
    'model-00003-of-00003.safetensors', 'model.safetensors.index.json']);
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'sharded', 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.metadata.total_size, 48 + 24 + 24);
  const ck = Checkpoint.open(path.join(dir, 'sharded'));
  assert.deepEqual(ck.names().sort(), ['a', 'b', 'c']);
  assert.deepEqual(ck.readF32('a', [3, 4]), values);
  assert.equal(ck.info('b').file.endsWith('model-00002-of-00003.safetensors'), true);
  ck.close();
  writeCheckpoint(path.join(dir, 'single'), sample());
  const single = Checkpoint.open(path.join(dir, 'single'));
  assert.deepEqual(single.readF32('c'), toFloat32('F16', fromFloat32('F16', values)));
  single.close();
});

test('truncated file: shorter than the length field', () => {
  const dir = tempDir();
  const file = path.join(dir, 't.safetensors');
  fs.writeFileSync(file, Buffer.from([1, 0, 0]));
  expectError(() => SafetensorsFile.open(file), /t\.safetensors/, /truncated: 3 bytes/);
});

test('truncated file: data cut short puts offsets out of range', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, sample());
  const full = fs.readFileSync(file);
  fs.writeFileSync(file, full.subarray(0, full.length - 10));
  expectError(() => SafetensorsFile.open(file), /tensor 'c'/, /out of range/);
});

test('header length past the end of the file', () => {
  const file = rawFile(tempDir(), { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4, 10_000n);
  expectError(() => SafetensorsFile.open(file), /header length 10000 runs past the end of the file/);
});

test('header length over the 100 MB limit', () => {
  const file = rawFile(tempDir(), {}, 0, 1n << 40n);
  expectError(() => SafetensorsFile.open(file), /exceeds the 100000000-byte limit/);
});

test('header that is not JSON', () => {
  const file = rawFile(tempDir(), '{"a": {', 0);
  expectError(() => SafetensorsFile.open(file), /header is not valid JSON/);
});

test('offsets out of range', () => {
  const file = rawFile(tempDir(), { w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 8);
  expectError(() => SafetensorsFile.open(file), /tensor 'w'/, /data_offsets \[4, 12\] out of range: the data section holds 8 bytes/);
});

test('offsets that overlap another tensor', () => {
  const file = rawFile(tempDir(), {
    p: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    q: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }, 12);
  expectError(() => SafetensorsFile.open(file), /tensor 'q'/, /overlaps tensor 'p'/);
});

test('dtype x shape disagreeing with the byte length', () => {
  const file = rawFile(tempDir(), { w: { dtype: 'BF16', shape: [3, 2], data_offsets: [0, 24] } }, 24);
  expectError(() => SafetensorsFile.open(file), /tensor 'w'/, /dtype\/shape mismatch: BF16 \[3,2\] needs 12 bytes but data_offsets span 24/);
});

test('unknown dtype and malformed shape', () => {
  const dir = tempDir();
  expectError(() => SafetensorsFile.open(rawFile(dir, { w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1)),
    /tensor 'w'/, /unknown dtype "F8"/);
  expectError(() => SafetensorsFile.open(rawFile(dir, { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4)),
    /shape \[-1\] is not a list of non-negative integers/);
});

test('missing shard named by the index', () => {
  const dir = tempDir();
  writeCheckpoint(dir, sample(), 40);
  fs.rmSync(path.join(dir, 'model-00002-of-00003.safetensors'));
  expectError(() => Checkpoint.open(dir), /model\.safetensors\.index\.json/, /missing shard model-00002-of-00003\.safetensors/);
});

test('tensor named by the index but absent from its shard', () => {
  const dir = tempDir();
  writeCheckpoint(dir, sample(), 40);
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  index.weight_map['model.extra.weight'] = 'model-00001-of-00003.safetensors';
  fs.writeFileSync(indexFile, JSON.stringify(index));
  expectError(() => Checkpoint.open(dir), /model-00001-of-00003\.safetensors/, /tensor 'model\.extra\.weight'/, /not present in this shard/);
});

test('missing tensor and wrong shape are named when read', () => {
  const dir = tempDir();
  writeCheckpoint(dir, sample());
  const ck = Checkpoint.open(dir);
  expectError(() => ck.info('lm_head.weight'), /tensor 'lm_head\.weight'/, /missing from the checkpoint/);
  expectError(() => ck.readF32('a', [4, 3]), /tensor 'a'/, /has shape \[3,4\], expected \[4,3\]/);
  ck.close();
});

test('a directory without a checkpoint', () => {
  expectError(() => Checkpoint.open(tempDir()), /neither model\.safetensors\.index\.json nor model\.safetensors/);
});
