import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fromFloat32 } from '../../src/formats/dtype.js';
import { decodeToFloat32, quantize, type TensorDType } from '../../src/formats/ggml-quants.js';
import { GgufFile, GgufType, kv, writeGguf, type GgufMetadata, type GgufTensorToWrite } from '../../src/formats/gguf.js';
import { FormatError } from '../../src/formats/safetensors.js';
import { FIXTURES, tempDir } from '../helpers.js';

function metadataOfEveryType(): GgufMetadata {
  return new Map([
    ['general.architecture', kv.str('pangu-embedded')],
    ['t.u8', kv.u8(255)], ['t.i8', kv.i8(-128)], ['t.u16', kv.u16(65535)], ['t.i16', kv.i16(-32768)],
    ['t.u32', kv.u32(4294967295)], ['t.i32', kv.i32(-2147483648)], ['t.f32', kv.f32(1e-5)],
    ['t.bool', kv.bool(true)], ['t.str', kv.str('盘古 ✓')], ['t.u64', kv.u64(2n ** 64n - 1n)], ['t.u64small', kv.u64(7)],
    ['t.i64', kv.i64(-(2n ** 63n))], ['t.f64', kv.f64(Math.PI)],
    ['t.arr.str', kv.arr(GgufType.STRING, ['<unk>', '<s>', '', 'é'])],
    ['t.arr.i32', kv.arr(GgufType.INT32, [0, -1, 2147483647])],
    ['t.arr.f32', kv.arr(GgufType.FLOAT32, [0.5, -2])],
    ['t.arr.bool', kv.arr(GgufType.BOOL, [true, false])],
    ['t.arr.empty', kv.arr(GgufType.UINT8, [])],
  ]);
}

const values = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i) * 3);

function sampleTensors(): GgufTensorToWrite[] {
  return [
    { name: 'a.f32', dtype: 'F32', shape: [2, 64], data: fromFloat32('F32', values) },
    { name: 'b.bf16', dtype: 'BF16', shape: [128], data: () => fromFloat32('BF16', values) },
    // Produced in chunks, one row at a time.
    { name: 'c.q8_0', dtype: 'Q8_0', shape: [2, 64], data: () => [quantize('Q8_0', values.subarray(0, 64)), quantize('Q8_0', values.subarray(64))] },
    { name: 'd.q4_0', dtype: 'Q4_0', shape: [1, 2, 64], data: quantize('Q4_0', values) },
    { name: 'e.f16', dtype: 'F16', shape: [3], data: fromFloat32('F16', Float32Array.from([1, 2, 3])) },
  ];
}

test('a written GGUF reads back: every metadata type, tensor infos, lazy tensor data', () => {
  const dir = tempDir();
  const file = path.join(dir, 'm.gguf');
  const progress: number[] = [];
  writeGguf(file, metadataOfEveryType(), sampleTensors(), { onProgress: (p) => progress.push(p.done) });
  assert.equal(progress.at(-1), 5);
  assert.ok(!fs.existsSync(`${file}.partial`));
  const g = GgufFile.open(file);
  try {
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 32);
    assert.deepEqual(g.metadata, new Map([...metadataOfEveryType()].map(([k, v]) =>
      [k, k === 't.f32' ? kv.f32(Math.fround(1e-5)) : k === 't.u64' ? { type: GgufType.UINT64, value: 2n ** 64n - 1n } : k === 't.i64' ? { type: GgufType.INT64, value: -(2n ** 63n) } : v])));
    assert.equal(g.architecture, 'pangu-embedded');
    assert.equal(g.uint('t.u32'), 4294967295);
    assert.equal(g.uint('missing', 9), 9);
    assert.throws(() => g.uint('t.str'), /m\.gguf: key 't\.str': expected a non-negative integer, got STRING "盘古 ✓"/);
    assert.throws(() => g.string('nope'), /missing required key 'nope'/);
    assert.deepEqual([...g.tensors.keys()], ['a.f32', 'b.bf16', 'c.q8_0', 'd.q4_0', 'e.f16']);
    const d = g.info('d.q4_0');
    assert.deepEqual(d.dims, [64, 2, 1]);
    assert.deepEqual(d.shape, [1, 2, 64]);
    assert.equal(d.dtype, 'Q4_0');
    assert.equal(d.byteLength, 4 * 18);
    for (const t of g.tensors.values()) assert.equal((t.offset - g.dataOffset) % 32, 0);
    assert.deepEqual(g.read('a.f32'), fromFloat32('F32', values));
    assert.deepEqual(g.read('c.q8_0'), quantize('Q8_0', values));
    assert.deepEqual(g.readRange('c.q8_0', 68, 68), quantize('Q8_0', values.subarray(64)));
    assert.throws(() => g.readRange('c.q8_0', 100, 68), /byte range \[100, 168\) is outside its 136 bytes/);
    assert.throws(() => g.read('zzz'), /tensor 'zzz': not present/);
    // The file ends with the last tensor padded to the alignment, as llama.cpp expects.
    assert.equal(fs.statSync(file).size % 32, 0);
  } finally {
    g.close();
  }
});

test('the writer refuses data of the wrong length and leaves no file behind', () => {
  const dir = tempDir();
  const file = path.join(dir, 'bad.gguf');
  assert.throws(() => writeGguf(file, new Map(), [{ name: 'x', dtype: 'Q8_0', shape: [64], data: new Uint8Array(60) }]),
    /bad\.gguf: tensor 'x': data holds 60 bytes, Q8_0 \[64\] needs 68/);
  assert.throws(() => writeGguf(file, new Map(), [{ name: 'x', dtype: 'Q4_K', shape: [2, 64], data: new Uint8Array(0) }]),
    /rows of 64 values are not a whole number of Q4_K blocks \(256\)/);
  assert.throws(() => writeGguf(file, new Map([['k', kv.u8(300)]]), []), /metadata key 'k': value 300 does not fit UINT8/);
  assert.ok(!fs.existsSync(file) && !fs.existsSync(`${file}.partial`));
});

// ----- malformed files, built byte by byte

interface RawTensor { name: string; dims: (number | bigint)[]; type: number; offset: number | bigint }
interface RawSpec {
  magic?: string;
  version?: number;
  nTensors?: bigint;
  nKv?: bigint;
  kvs?: Buffer[];
  tensors?: RawTensor[];
  dataBytes?: number;
  alignment?: number;
  cut?: number;
}

const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u64 = (v: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
const kvU32 = (k: string, v: number) => Buffer.concat([str(k), u32(GgufType.UINT32), u32(v)]);
const kvStr = (k: string, v: string) => Buffer.concat([str(k), u32(GgufType.STRING), str(v)]);

function rawGguf(dir: string, spec: RawSpec): string {
  const kvs = spec.kvs ?? [kvStr('general.architecture', 'x')];
  const tensors = spec.tensors ?? [{ name: 't0', dims: [32, 2], type: 0, offset: 0 }];
  const parts: Buffer[] = [
    Buffer.from(spec.magic ?? 'GGUF', 'latin1'), u32(spec.version ?? 3),
    u64(spec.nTensors ?? BigInt(tensors.length)), u64(spec.nKv ?? BigInt(kvs.length)), ...kvs,
  ];
  for (const t of tensors) parts.push(str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(t.offset));
  let buf = Buffer.concat(parts);
  const align = spec.alignment ?? 32;
  buf = Buffer.concat([buf, Buffer.alloc((align - (buf.length % align)) % align), Buffer.alloc(spec.dataBytes ?? 256)]);
  if (spec.cut !== undefined) buf = buf.subarray(0, spec.cut);
  const file = path.join(dir, 'x.gguf');
  fs.writeFileSync(file, buf);
  return file;
}

function expectError(file: string, ...patterns: RegExp[]): void {
  assert.throws(() => GgufFile.open(file), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${e}`);
    assert.ok(e.message.startsWith(file), `message names the file: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('malformed GGUF files give clear errors naming the file and the key or tensor', () => {
  const dir = tempDir();
  assert.ok(GgufFile.open(rawGguf(dir, {})), 'the unmodified raw file is valid');
  expectError(rawGguf(dir, { cut: 2 }), /truncated: 2 bytes, too short for the GGUF magic/);
  expectError(rawGguf(dir, { cut: 60 }), /truncated: the length of key 'general\.architecture' needs 8 bytes at offset 56, but the file ends at 60/);
  expectError(rawGguf(dir, { magic: 'GGML' }), /bad magic "GGML" \(bytes 47 47 4d 4c\), expected "GGUF": not a GGUF file/);
  expectError(rawGguf(dir, { version: 4 }), /unsupported version 4; this reader supports GGUF versions 2 and 3/);
  expectError(rawGguf(dir, { version: 1 }), /unsupported version 1/);
  expectError(rawGguf(dir, { version: 0x03000000 }), /byte-swapped, big-endian/);
  expectError(rawGguf(dir, { nTensors: 1n << 40n }), /tensor count 1099511627776 cannot fit/);
  expectError(rawGguf(dir, { nKv: 1000n }), /metadata count 1000 cannot fit/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([str('general.name'), u32(GgufType.STRING), u64(1n << 40n)])] }),
    /key 'general\.name': string length 1099511627776 \(at offset \d+\) runs past the end of the file/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([u64(1n << 50n), Buffer.from('k')])] }),
    /the key of metadata pair 0: string length 1125899906842624 .* runs past the end/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([str('tokenizer.ggml.tokens'), u32(GgufType.ARRAY), u32(GgufType.INT32), u64(1n << 30n)])] }),
    /key 'tokenizer\.ggml\.tokens': array of 1073741824 INT32 items runs past the end of the file/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([str('a.b'), u32(13), u32(0)])] }), /key 'a\.b': unknown value type 13/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([str('a.b'), u32(GgufType.ARRAY), u32(GgufType.ARRAY), u64(0)])] }), /key 'a\.b': arrays of arrays are not supported/);
  expectError(rawGguf(dir, { kvs: [kvU32('a', 1), kvU32('a', 2)] }), /key 'a': duplicate key/);
  expectError(rawGguf(dir, { kvs: [Buffer.concat([str('b'), u32(GgufType.BOOL), Buffer.from([2])])] }), /key 'b': bool value 2 is neither 0 nor 1/);
  expectError(rawGguf(dir, { kvs: [kvU32('general.alignment', 48)], alignment: 16 }), /key 'general\.alignment': 48 is not a power of two/);
  expectError(rawGguf(dir, { dataBytes: 100 }), /tensor 't0': tensor data \[\d+, \d+\) out of range: F32 \[32, 2\] needs 256 bytes at data offset 0, but the file ends at \d+ \(truncated\?\)/);
  expectError(rawGguf(dir, { tensors: [{ name: 'w', dims: [32, 2], type: 99, offset: 0 }] }), /tensor 'w': unknown GGML type id 99/);
  expectError(rawGguf(dir, { tensors: [{ name: 'w', dims: [32, 2], type: 0, offset: 8 }] }), /tensor 'w': data offset 8 is misaligned: not a multiple of the alignment 32/);
  expectError(rawGguf(dir, { tensors: [{ name: 'q', dims: [48, 2], type: 8, offset: 0 }] }),
    /tensor 'q': dims\/type mismatch: Q8_0 stores blocks of 32 values, but a row \(dims\[0\]\) holds 48/);
  expectError(rawGguf(dir, { tensors: [{ name: 'a', dims: [32, 2], type: 0, offset: 0 }, { name: 'b', dims: [32], type: 0, offset: 128 }] }),
    /tensor 'b': data at offset 128 overlaps tensor 'a' \(F32 \[32, 2\] = 256 bytes at offset 0\): dims\/type byte lengths do not match the offsets/);
  expectError(rawGguf(dir, { tensors: [{ name: 'a', dims: [32], type: 0, offset: 0 }, { name: 'a', dims: [32], type: 0, offset: 128 }] }), /tensor 'a': duplicate tensor name/);
  expectError(rawGguf(dir, { tensors: [{ name: 'a', dims: [1, 1, 1, 1, 32], type: 0, offset: 0 }] }), /tensor 'a': 5 dimensions, more than GGML's 4/);
  expectError(rawGguf(dir, { tensors: [{ name: 'a', dims: [1n << 40n, 1n << 20n], type: 0, offset: 0 }] }), /tensor 'a': dims \[1099511627776, 1048576\] hold more than 2\^53 elements/);
});

test('a file written by llama.cpp\'s gguf-py (GGUFWriter) reads back: metadata, alignment 64, tensors decoded as gguf-py decodes them', () => {
  const file = path.join(FIXTURES, 'gguf', 'gguf-py-writer.gguf');
  const expected = JSON.parse(fs.readFileSync(file.replace('.gguf', '.json'), 'utf8')) as Record<string, { type: string; shape: number[]; values: number[] }>;
  const g = GgufFile.open(file);
  try {
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 64);
    assert.equal(g.dataOffset % 64, 0);
    assert.equal(g.architecture, 'pangu-test');
    assert.equal(g.string('general.name'), 'gguf-py fixture ✓');
    const scalars: [string, GgufType, unknown][] = [
      ['t.u8', GgufType.UINT8, 200], ['t.i8', GgufType.INT8, -100], ['t.u16', GgufType.UINT16, 60000],
      ['t.i16', GgufType.INT16, -30000], ['t.u32', GgufType.UINT32, 4000000000], ['t.i32', GgufType.INT32, -2000000000],
      ['t.f32', GgufType.FLOAT32, 0.25], ['t.u64', GgufType.UINT64, 2n ** 53n + 2n], ['t.i64', GgufType.INT64, -(2 ** 40)],
      ['t.f64', GgufType.FLOAT64, 1 / 3], ['t.bool', GgufType.BOOL, false],
    ];
    for (const [key, type, value] of scalars) assert.deepEqual(g.metadata.get(key), { type, value }, key);
    assert.deepEqual(g.metadata.get('t.arr.str'), kv.arr(GgufType.STRING, ['a', 'bc', '盘古']));
    assert.deepEqual(g.metadata.get('t.arr.i32'), kv.arr(GgufType.INT32, [1, -2, 3]));
    assert.deepEqual(g.metadata.get('t.arr.f32'), kv.arr(GgufType.FLOAT32, [0.5, 1.5]));
    assert.deepEqual([...g.tensors.keys()], Object.keys(expected));
    for (const [name, e] of Object.entries(expected)) {
      const t = g.info(name);
      assert.equal(t.dtype, e.type, name);
      assert.deepEqual(t.shape, e.shape, name);
      assert.deepEqual(Array.from(decodeToFloat32(t.dtype as TensorDType, g.read(name))), e.values.map(Math.fround), name);
    }
  } finally {
    g.close();
  }
});

test('metadata larger than the header buffer\'s first 64 KiB is written whole (every value type across the growth)', () => {
  const dir = tempDir();
  const file = path.join(dir, 'big-header.gguf');
  const m: GgufMetadata = new Map([['general.architecture', kv.str('pangu-embedded')]]);
  const words = Array.from({ length: 20000 }, (_, i) => `▁piece${i}`);
  m.set('t.tokens', kv.arr(GgufType.STRING, words));
  m.set('t.scores', kv.arr(GgufType.FLOAT32, words.map((_, i) => -i / 4)));
  for (const [k, v] of metadataOfEveryType()) if (k !== 'general.architecture') m.set(k, v);
  writeGguf(file, m, []);
  const g = GgufFile.open(file);
  assert.deepEqual(g.array('t.tokens'), words);
  assert.deepEqual(g.array('t.scores'), words.map((_, i) => -i / 4));
  assert.equal(g.uint('t.u32'), 4294967295);
  assert.equal(g.string('t.str'), '盘古 ✓');
  g.close();
});
