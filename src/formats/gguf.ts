// GGUF files (llama.cpp's model format), version 3 (version 2 has the same little-endian layout):
//
//   magic "GGUF" | u32 version | u64 tensor count | u64 metadata count
//   metadata: (string key, u32 value type, value)*        string = u64 byte length + UTF-8 bytes
//   tensor infos: (string name, u32 n_dims, u64 dims[n_dims] (innermost first), u32 ggml type,
//                  u64 offset relative to the data section)*
//   padding to general.alignment (default 32) | data section: each tensor at an aligned offset
//
// The header is validated in full at open (errors name the file and the key or tensor); tensor
// data is read lazily, one tensor (or a byte range of one) at a time. The writer streams: tensor
// data is produced and written one tensor, or one chunk, at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ggmlType, ggmlTypeById, type GgmlType } from './ggml-quants.js';
import { checkByteRange, FormatError, openFile, readTensorBytes, readTensorBytesInto } from './safetensors.js';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGUF_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME includes the terminating NUL: names must be shorter. */
export const GGUF_MAX_NAME = 64;

/** Metadata value types. */
export enum GgufType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

export type GgufScalarType = Exclude<GgufType, GgufType.ARRAY>;
/** u64/i64 values are numbers when they are safe integers, else bigints. */
export type GgufScalar = number | bigint | boolean | string;
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: GgufType.ARRAY; itemType: GgufScalarType; value: GgufScalar[] };
export type GgufMetadata = Map<string, GgufValue>;

/** Constructors of typed metadata values, for writing. */
export const kv = {
  u8: (v: number): GgufValue => ({ type: GgufType.UINT8, value: v }),
  i8: (v: number): GgufValue => ({ type: GgufType.INT8, value: v }),
  u16: (v: number): GgufValue => ({ type: GgufType.UINT16, value: v }),
  i16: (v: number): GgufValue => ({ type: GgufType.INT16, value: v }),
  u32: (v: number): GgufValue => ({ type: GgufType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufType.INT32, value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: GgufType.UINT64, value: v }),
  i64: (v: number | bigint): GgufValue => ({ type: GgufType.INT64, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufType.FLOAT32, value: v }),
  f64: (v: number): GgufValue => ({ type: GgufType.FLOAT64, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufType.STRING, value: v }),
  arr: (itemType: GgufScalarType, values: GgufScalar[]): GgufValue => ({ type: GgufType.ARRAY, itemType, value: values }),
};

const SCALAR_BYTES: Partial<Record<GgufType, number>> = {
  [GgufType.UINT8]: 1, [GgufType.INT8]: 1, [GgufType.UINT16]: 2, [GgufType.INT16]: 2,
  [GgufType.UINT32]: 4, [GgufType.INT32]: 4, [GgufType.FLOAT32]: 4, [GgufType.BOOL]: 1,
  [GgufType.UINT64]: 8, [GgufType.INT64]: 8, [GgufType.FLOAT64]: 8,
};

function typeName(t: number): string {
  return GgufType[t] ?? `type ${t}`;
}

export interface GgufTensorInfo {
  name: string;
  /** GGML type name (F32, BF16, Q8_0, ...). */
  dtype: string;
  ggml: GgmlType;
  /** Dimensions as stored: innermost (ne[0]) first. */
  dims: number[];
  /** Row-major shape (dims reversed), as numpy / safetensors / this project's code use it. */
  shape: number[];
  file: string;
  /** Offset relative to the data section. */
  relOffset: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Reads the header through a window over the file, never the whole file. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}

  fail(message: string, tensor?: string): never {
    throw new FormatError(this.file, message, tensor);
  }

  remaining(): number {
    return this.size - this.pos;
  }

  /** Makes bytes [pos, pos+n) available; `what` names the field when the file ends first. */
  private take(n: number, what: string): number {
    if (this.pos + n > this.size) {
      this.fail(`truncated: ${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ${this.size}`);
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 22), this.size - this.pos);
      const buf = Buffer.allocUnsafe(len);
      let done = 0;
      while (done < len) {
        const r = fs.readSync(this.fd, buf, done, len - done, this.pos + done);
        if (r === 0) this.fail(`file ended early while reading ${what} at offset ${this.pos + done}`);
        done += r;
      }
      this.buf = buf;
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  bytes(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.buf.subarray(at, at + n);
  }
  u8(what: string): number { return this.buf.readUInt8(this.take(1, what)); }
  i8(what: string): number { return this.buf.readInt8(this.take(1, what)); }
  u16(what: string): number { return this.buf.readUInt16LE(this.take(2, what)); }
  i16(what: string): number { return this.buf.readInt16LE(this.take(2, what)); }
  u32(what: string): number { return this.buf.readUInt32LE(this.take(4, what)); }
  i32(what: string): number { return this.buf.readInt32LE(this.take(4, what)); }
  f32(what: string): number { return this.buf.readFloatLE(this.take(4, what)); }
  f64(what: string): number { return this.buf.readDoubleLE(this.take(8, what)); }
  u64(what: string): bigint { return this.buf.readBigUInt64LE(this.take(8, what)); }
  i64(what: string): bigint { return this.buf.readBigInt64LE(this.take(8, what)); }

  /** A u64 that must be a safe integer. */
  count(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is implausibly large (past 2^53)`);
    return Number(v);
  }

  string(what: string): string {
    const lenAt = this.pos;
    const len = this.u64(`the length of ${what}`);
    if (len > BigInt(this.size - this.pos)) {
      this.fail(`${what}: string length ${len} (at offset ${lenAt}) runs past the end of the file (${this.size} bytes)`);
    }
    return this.decoder.decode(this.bytes(Number(len), what));
  }

  scalar(type: number, what: string): GgufScalar {
    switch (type) {
      case GgufType.UINT8: return this.u8(what);
      case GgufType.INT8: return this.i8(what);
      case GgufType.UINT16: return this.u16(what);
      case GgufType.INT16: return this.i16(what);
      case GgufType.UINT32: return this.u32(what);
      case GgufType.INT32: return this.i32(what);
      case GgufType.FLOAT32: return this.f32(what);
      case GgufType.FLOAT64: return this.f64(what);
      case GgufType.UINT64: return narrow(this.u64(what));
      case GgufType.INT64: return narrow(this.i64(what));
      case GgufType.STRING: return this.string(what);
      case GgufType.BOOL: {
        const b = this.u8(what);
        if (b > 1) this.fail(`${what}: bool value ${b} is neither 0 nor 1`);
        return b === 1;
      }
      default: return this.fail(`${what}: unknown value type ${type}`);
    }
  }
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export class GgufFile {
  private constructor(
    readonly file: string,
    private fd: number,
    readonly version: number,
    readonly metadata: GgufMetadata,
    readonly tensors: Map<string, GgufTensorInfo>,
    readonly alignment: number,
    /** Absolute offset of the data section. */
    readonly dataOffset: number,
  ) {}

  static open(file: string): GgufFile {
    return openFile(file, (fd) => {
      const h = parseHeader(file, fd);
      return new GgufFile(file, fd, h.version, h.metadata, h.tensors, h.alignment, h.dataOffset);
    });
  }

  /** The architecture named by general.architecture. */
  get architecture(): string {
    return this.string('general.architecture');
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  private fail(key: string, message: string): never {
    throw new FormatError(this.file, `key '${key}': ${message}`);
  }

  private need(key: string): GgufValue {
    const v = this.metadata.get(key);
    if (!v) throw new FormatError(this.file, `missing required key '${key}'`);
    return v;
  }

  /** A non-negative integer of any integer type. */
  uint(key: string, fallback?: number): number {
    if (fallback !== undefined && !this.metadata.has(key)) return fallback;
    const v = this.need(key);
    if (v.type === GgufType.ARRAY || typeof v.value !== 'number' || !Number.isSafeInteger(v.value) || v.value < 0 ||
        v.type === GgufType.FLOAT32 || v.type === GgufType.FLOAT64) {
      this.fail(key, `expected a non-negative integer, got ${describe(v)}`);
    }
    return v.value;
  }

  /** A number of a float or integer type. */
  float(key: string, fallback?: number): number {
    if (fallback !== undefined && !this.metadata.has(key)) return fallback;
    const v = this.need(key);
    if (v.type === GgufType.ARRAY || typeof v.value !== 'number') this.fail(key, `expected a number, got ${describe(v)}`);
    return v.value;
  }

  string(key: string, fallback?: string): string {
    if (fallback !== undefined && !this.metadata.has(key)) return fallback;
    const v = this.need(key);
    if (v.type !== GgufType.STRING) this.fail(key, `expected a string, got ${describe(v)}`);
    return v.value as string;
  }

  bool(key: string, fallback?: boolean): boolean {
    if (fallback !== undefined && !this.metadata.has(key)) return fallback;
    const v = this.need(key);
    if (v.type !== GgufType.BOOL) this.fail(key, `expected a bool, got ${describe(v)}`);
    return v.value as boolean;
  }

  array(key: string): GgufScalar[] {
    const v = this.need(key);
    if (v.type !== GgufType.ARRAY) this.fail(key, `expected an array, got ${describe(v)}`);
    return v.value;
  }

  info(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new FormatError(this.file, 'not present in this file', name);
    return t;
  }

  /** Reads one tensor's raw bytes. */
  read(name: string): Uint8Array {
    const t = this.info(name);
    return this.readRange(name, 0, t.byteLength);
  }

  /** Reads `length` bytes of one tensor's data, starting `start` bytes into it. */
  readRange(name: string, start: number, length: number): Uint8Array {
    const t = this.info(name);
    checkByteRange(this.file, name, start, length, t.byteLength);
    if (this.fd < 0) throw new FormatError(this.file, 'file is closed', name);
    return readTensorBytes(this.fd, this.file, name, t.offset + start, length);
  }

  /** Reads dst.byteLength bytes of one tensor's data, starting `start` bytes into it, straight into `dst`. */
  readInto(name: string, start: number, dst: Uint8Array): void {
    const t = this.info(name);
    checkByteRange(this.file, name, start, dst.byteLength, t.byteLength);
    if (this.fd < 0) throw new FormatError(this.file, 'file is closed', name);
    readTensorBytesInto(this.fd, this.file, name, t.offset + start, dst);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function describe(v: GgufValue): string {
  if (v.type === GgufType.ARRAY) return `an array of ${v.value.length} ${typeName(v.itemType)}`;
  return `${typeName(v.type)} ${typeof v.value === 'string' ? JSON.stringify(v.value.slice(0, 40)) : String(v.value)}`;
}

interface Header {
  version: number;
  metadata: GgufMetadata;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
  dataOffset: number;
}

/** The fewest bytes a metadata pair (key length, type, 1-byte value) and a tensor info can take. */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;

function parseHeader(file: string, fd: number): Header {
  const size = fs.fstatSync(fd).size;
  const c: Cursor = new Cursor(fd, size, file);
  if (size < 4) c.fail(`truncated: ${size} bytes, too short for the GGUF magic`);
  const magic = c.bytes(4, 'the magic');
  const magicText = Buffer.from(magic).toString('latin1');
  if (magicText !== GGUF_MAGIC) {
    c.fail(`bad magic ${JSON.stringify(magicText)} (bytes ${hex(magic)}), expected "GGUF": not a GGUF file`);
  }
  const version = c.u32('the version');
  if (version !== 2 && version !== 3) {
    if ((version & 0xffff) === 0 && version >>> 16 !== 0) {
      c.fail(`unsupported version ${version} (0x${version.toString(16)}): a byte-swapped, big-endian GGUF file; only little-endian files are supported`);
    }
    if (version === 1) c.fail('unsupported version 1 (GGUF v1 used 32-bit counts); re-convert the model to GGUF v3');
    c.fail(`unsupported version ${version}; this reader supports GGUF versions 2 and 3`);
  }
  const nTensors = c.count('the tensor count');
  const nKv = c.count('the metadata count');
  if (nKv * MIN_KV_BYTES > c.remaining()) {
    c.fail(`metadata count ${nKv} cannot fit: each pair needs at least ${MIN_KV_BYTES} bytes and ${c.remaining()} remain`);
  }
  if (nTensors * MIN_TENSOR_INFO_BYTES > c.remaining()) {
    c.fail(`tensor count ${nTensors} cannot fit: each tensor info needs at least ${MIN_TENSOR_INFO_BYTES} bytes and ${c.remaining()} remain`);
  }

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`the key of metadata pair ${i}`);
    const what = `key '${key}'`;
    if (key.length === 0) c.fail(`metadata pair ${i} has an empty key`);
    if (metadata.has(key)) c.fail(`${what}: duplicate key`);
    const type = c.u32(`the value type of ${what}`);
    if (type === GgufType.ARRAY) {
      const itemType = c.u32(`the item type of ${what}`);
      if (itemType === GgufType.ARRAY) c.fail(`${what}: arrays of arrays are not supported`);
      if (GgufType[itemType] === undefined) c.fail(`${what}: unknown array item type ${itemType}`);
      const n = c.count(`the item count of ${what}`);
      const minItem = itemType === GgufType.STRING ? 8 : SCALAR_BYTES[itemType as GgufType]!;
      if (n * minItem > c.remaining()) {
        c.fail(`${what}: array of ${n} ${typeName(itemType)} items runs past the end of the file (needs at least ${n * minItem} bytes, ${c.remaining()} remain)`);
      }
      const values: GgufScalar[] = new Array(n);
      for (let j = 0; j < n; j++) values[j] = c.scalar(itemType, `${what}[${j}]`);
      metadata.set(key, { type: GgufType.ARRAY, itemType: itemType as GgufScalarType, value: values });
    } else {
      if (GgufType[type] === undefined) c.fail(`${what}: unknown value type ${type}`);
      metadata.set(key, { type: type as GgufScalarType, value: c.scalar(type, what) });
    }
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    if (al.type !== GgufType.UINT32) c.fail(`key 'general.alignment': must be UINT32, got ${describe(al)}`);
    const a = al.value as number;
    if (a === 0 || (a & (a - 1)) !== 0) c.fail(`key 'general.alignment': ${a} is not a power of two`);
    alignment = a;
  }

  const infos: Omit<GgufTensorInfo, 'offset'>[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`the name of tensor info ${i}`);
    if (names.has(name)) c.fail(`duplicate tensor name (tensor info ${i})`, name);
    names.add(name);
    const nDims = c.u32(`the dimension count of tensor '${name}'`);
    if (nDims > GGUF_MAX_DIMS) c.fail(`${nDims} dimensions, more than GGML's ${GGUF_MAX_DIMS}`, name);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = c.count(`dimension ${d} of tensor '${name}'`);
      dims.push(n);
      elements *= n;
      if (!Number.isSafeInteger(elements)) c.fail(`dims [${dims.join(', ')}] hold more than 2^53 elements`, name);
    }
    const typeId = c.u32(`the type of tensor '${name}'`);
    const ggml = ggmlTypeById(typeId);
    if (!ggml) c.fail(`unknown GGML type id ${typeId}`, name);
    const row = dims.length ? dims[0]! : 1;
    if (row % ggml.blockSize !== 0) {
      c.fail(`dims/type mismatch: ${ggml.name} stores blocks of ${ggml.blockSize} values, but a row (dims[0]) holds ${row}`, name);
    }
    const relOffset = c.count(`the data offset of tensor '${name}'`);
    if (relOffset % alignment !== 0) {
      c.fail(`data offset ${relOffset} is misaligned: not a multiple of the alignment ${alignment}`, name);
    }
    infos.push({
      name, dtype: ggml.name, ggml, dims, shape: [...dims].reverse(), file, relOffset,
      byteLength: (elements / ggml.blockSize) * ggml.typeSize,
    });
  }

  const dataOffset = alignUp(c.pos, alignment);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    const begin = dataOffset + t.relOffset, end = begin + t.byteLength;
    if (end > size) {
      c.fail(`tensor data [${begin}, ${end}) out of range: ${t.dtype} [${t.dims.join(', ')}] needs ${t.byteLength} bytes at data offset ${t.relOffset}, but the file ends at ${size} (truncated?)`, t.name);
    }
    tensors.set(t.name, { ...t, offset: begin });
  }
  const spans = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!, cur = spans[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      c.fail(`data at offset ${cur.relOffset} overlaps tensor '${prev.name}' (${prev.dtype} [${prev.dims.join(', ')}] = ${prev.byteLength} bytes at offset ${prev.relOffset}): dims/type byte lengths do not match the offsets`, cur.name);
    }
  }
  return { version, metadata, tensors, alignment, dataOffset };
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface GgufTensorToWrite {
  name: string;
  /** GGML type name. */
  dtype: string;
  /** Row-major shape (written reversed, innermost first). */
  shape: number[];
  /** The bytes, or a function producing them now, whole or as a sequence of chunks. */
  data: Uint8Array | (() => Uint8Array | Iterable<Uint8Array>);
}

export interface GgufWriteProgress {
  /** Tensors finished so far, of `total`. */
  done: number;
  total: number;
  name: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface GgufWriteOptions {
  /** Called after each chunk of tensor data is written. */
  onProgress?: (p: GgufWriteProgress) => void;
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() may replace this.buf, so it runs before this.buf is read.
  u8(v: number) { const at = this.room(1); this.buf.writeUInt8(v, at); }
  i8(v: number) { const at = this.room(1); this.buf.writeInt8(v, at); }
  u16(v: number) { const at = this.room(2); this.buf.writeUInt16LE(v, at); }
  i16(v: number) { const at = this.room(2); this.buf.writeInt16LE(v, at); }
  u32(v: number) { const at = this.room(4); this.buf.writeUInt32LE(v, at); }
  i32(v: number) { const at = this.room(4); this.buf.writeInt32LE(v, at); }
  f32(v: number) { const at = this.room(4); this.buf.writeFloatLE(v, at); }
  f64(v: number) { const at = this.room(8); this.buf.writeDoubleLE(v, at); }
  u64(v: number | bigint) { const at = this.room(8); this.buf.writeBigUInt64LE(BigInt(v), at); }
  i64(v: number | bigint) { const at = this.room(8); this.buf.writeBigInt64LE(BigInt(v), at); }
  bytes(b: Uint8Array) { const at = this.room(b.length); this.buf.set(b, at); }
  string(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number) { this.room(alignUp(this.length, alignment) - this.length); }
  result(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeScalar(w: ByteWriter, type: GgufScalarType, v: GgufScalar, key: string): void {
  const bad = () => { throw new Error(`metadata key '${key}': value ${String(v)} does not fit ${typeName(type)}`); };
  const int = (lo: number, hi: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad();
    return v as number;
  };
  switch (type) {
    case GgufType.UINT8: return w.u8(int(0, 0xff));
    case GgufType.INT8: return w.i8(int(-0x80, 0x7f));
    case GgufType.UINT16: return w.u16(int(0, 0xffff));
    case GgufType.INT16: return w.i16(int(-0x8000, 0x7fff));
    case GgufType.UINT32: return w.u32(int(0, 0xffffffff));
    case GgufType.INT32: return w.i32(int(-0x80000000, 0x7fffffff));
    case GgufType.FLOAT32: if (typeof v !== 'number') bad(); return w.f32(v as number);
    case GgufType.FLOAT64: if (typeof v !== 'number') bad(); return w.f64(v as number);
    case GgufType.BOOL: if (typeof v !== 'boolean') bad(); return w.u8(v ? 1 : 0);
    case GgufType.STRING: if (typeof v !== 'string') bad(); return w.string(v as string);
    case GgufType.UINT64:
      if ((typeof v !== 'number' && typeof v !== 'bigint') || BigInt(v) < 0n || BigInt(v) >= 1n << 64n) bad();
      return w.u64(v as number | bigint);
    case GgufType.INT64:
      if ((typeof v !== 'number' && typeof v !== 'bigint') || BigInt(v) < -(1n << 63n) || BigInt(v) >= 1n << 63n) bad();
      return w.i64(v as number | bigint);
    default: throw new Error(`metadata key '${key}': unknown value type ${type}`);
  }
}

/** The header bytes (up to and including the padding before the data section). */
export function encodeGgufHeader(metadata: GgufMetadata, tensors: readonly Pick<GgufTensorToWrite, 'name' | 'dtype' | 'shape'>[]): { header: Buffer; alignment: number; offsets: number[]; sizes: number[] } {
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const a = al.value as number;
    if (al.type !== GgufType.UINT32 || a === 0 || (a & (a - 1)) !== 0) throw new Error('general.alignment must be a UINT32 power of two');
    alignment = a;
  }
  const w = new ByteWriter();
  w.bytes(Buffer.from(GGUF_MAGIC, 'latin1'));
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.size);
  for (const [key, v] of metadata) {
    w.string(key);
    w.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      w.u32(v.itemType);
      w.u64(v.value.length);
      for (const x of v.value) writeScalar(w, v.itemType, x, key);
    } else {
      writeScalar(w, v.type, v.value, key);
    }
  }
  const offsets: number[] = [], sizes: number[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`tensor '${t.name}' is listed twice`);
    seen.add(t.name);
    if (Buffer.byteLength(t.name) >= GGUF_MAX_NAME) throw new Error(`tensor name '${t.name}' is too long for ggml (at most ${GGUF_MAX_NAME - 1} bytes)`);
    if (t.shape.length > GGUF_MAX_DIMS) throw new Error(`tensor '${t.name}' has ${t.shape.length} dimensions, more than GGML's ${GGUF_MAX_DIMS}`);
    const type = ggmlType(t.dtype);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    const row = t.shape.length ? t.shape[t.shape.length - 1]! : 1;
    if (row % type.blockSize !== 0) {
      throw new Error(`tensor '${t.name}': rows of ${row} values are not a whole number of ${type.name} blocks (${type.blockSize})`);
    }
    w.string(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]!);
    w.u32(type.id);
    w.u64(offset);
    const size = (elements / type.blockSize) * type.typeSize;
    offsets.push(offset);
    sizes.push(size);
    offset += alignUp(size, alignment);
  }
  w.pad(alignment);
  return { header: w.result(), alignment, offsets, sizes };
}

/**
 * Writes a GGUF v3 file. Tensors are laid out in the order given, each at the next aligned
 * offset (as llama.cpp requires); their data is produced and written one at a time. The file is
 * written under a temporary name and renamed into place when complete.
 */
export function writeGguf(file: string, metadata: GgufMetadata, tensors: readonly GgufTensorToWrite[], opts: GgufWriteOptions = {}): void {
  const { header, alignment, sizes } = encodeGgufHeader(metadata, tensors);
  const bytesTotal = sizes.reduce((a, b) => a + b, 0);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.partial`;
  const fd = fs.openSync(tmp, 'w');
  let ok = false;
  try {
    writeAll(fd, header);
    let pos = header.length, bytesDone = 0;
    opts.onProgress?.({ done: 0, total: tensors.length, name: tensors[0]?.name ?? '', bytesDone, bytesTotal });
    const zeros = new Uint8Array(alignment);
    tensors.forEach((t, i) => {
      const produced = typeof t.data === 'function' ? t.data() : t.data;
      const chunks: Iterable<Uint8Array> = produced instanceof Uint8Array ? [produced] : produced;
      let written = 0;
      for (const chunk of chunks) {
        if (written + chunk.byteLength > sizes[i]!) {
          throw new FormatError(file, `data holds more than the ${sizes[i]} bytes that ${t.dtype} [${t.shape.join(', ')}] needs`, t.name);
        }
        writeAll(fd, chunk);
        written += chunk.byteLength;
        bytesDone += chunk.byteLength;
        opts.onProgress?.({ done: i, total: tensors.length, name: t.name, bytesDone, bytesTotal });
      }
      if (written !== sizes[i]) {
        throw new FormatError(file, `data holds ${written} bytes, ${t.dtype} [${t.shape.join(', ')}] needs ${sizes[i]}`, t.name);
      }
      pos += written;
      const pad = alignUp(pos, alignment) - pos;
      if (pad) { // the last tensor too: llama.cpp reads the data section as whole aligned tensors
        writeAll(fd, zeros.subarray(0, pad));
        pos += pad;
      }
      opts.onProgress?.({ done: i + 1, total: tensors.length, name: t.name, bytesDone, bytesTotal });
    });
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (ok) fs.renameSync(tmp, file);
    else fs.rmSync(tmp, { force: true });
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.byteLength) done += fs.writeSync(fd, b, done, b.byteLength - done);
}
