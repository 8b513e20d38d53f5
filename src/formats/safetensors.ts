// safetensors files: an 8-byte little-endian header length, a JSON header, then raw tensor data.
// Headers are validated in full before any tensor is used; tensors are read lazily, one at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DTYPE_BYTES, isDType, type DType } from './dtype.js';

/** The safetensors reference implementation refuses headers above 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

export class FormatError extends Error {
  constructor(readonly file: string, message: string, readonly tensor?: string) {
    super(`${file}${tensor !== undefined ? `: tensor '${tensor}'` : ''}: ${message}`);
    this.name = 'FormatError';
  }
}

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** File the tensor is stored in. */
  file: string;
  /** Absolute byte offset of the tensor's data in its file. */
  offset: number;
  byteLength: number;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Opens `file` and builds an object on its descriptor; the descriptor is closed if that throws. */
export function openFile<T>(file: string, build: (fd: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new FormatError(file, `cannot open: ${(e as Error).message}`);
  }
  try {
    return build(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Reads `length` bytes of tensor `name` at `position` of an open file, failing clearly if it ends early. */
export function readTensorBytes(fd: number, file: string, name: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readTensorBytesInto(fd, file, name, position, out);
  return out;
}

/** Fills `dst` (any view, e.g. of a WebAssembly memory) with the bytes of tensor `name` at `position` of an open file. */
export function readTensorBytesInto(fd: number, file: string, name: string, position: number, dst: Uint8Array): void {
  const length = dst.byteLength;
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, dst, done, length - done, position + done);
    if (n === 0) throw new FormatError(file, 'file ended while reading tensor data', name);
    done += n;
  }
}

/** Throws unless [start, start + length) lies inside a tensor of `byteLength` bytes. */
export function checkByteRange(file: string, name: string, start: number, length: number, byteLength: number): void {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(length) && start >= 0 && length >= 0 && start + length <= byteLength)) {
    throw new FormatError(file, `byte range [${start}, ${start + length}) is outside its ${byteLength} bytes`, name);
  }
}

export class SafetensorsFile {
  private constructor(
    readonly file: string,
    private fd: number,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static open(file: string): SafetensorsFile {
    return openFile(file, (fd) => {
      const { tensors, metadata } = parseHeader(file, fd);
      return new SafetensorsFile(file, fd, tensors, metadata);
    });
  }

  /** Reads one tensor's raw little-endian bytes. */
  read(name: string): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw new FormatError(this.file, 'not present in this file', name);
    return readTensorBytes(this.fd, this.file, name, info.offset, info.byteLength);
  }

  /** Reads dst.byteLength bytes of one tensor, starting `start` bytes into it, straight into `dst`. */
  readInto(name: string, start: number, dst: Uint8Array): void {
    const info = this.tensors.get(name);
    if (!info) throw new FormatError(this.file, 'not present in this file', name);
    checkByteRange(this.file, name, start, dst.byteLength, info.byteLength);
    if (this.fd < 0) throw new FormatError(this.file, 'file is closed', name);
    readTensorBytesInto(this.fd, this.file, name, info.offset + start, dst);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

function parseHeader(file: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const size = fs.fstatSync(fd).size;
  if (size < 8) throw new FormatError(file, `truncated: ${size} bytes, too short for the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  fs.readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const hlen = Number(headerLen);
  if (8 + hlen > size) {
    throw new FormatError(file, `header length ${hlen} runs past the end of the file (${size} bytes): truncated or not a safetensors file`);
  }
  const hbuf = Buffer.alloc(hlen);
  fs.readSync(fd, hbuf, 0, hlen, 8);
  let header: unknown;
  try {
    header = JSON.parse(hbuf.toString('utf8'));
  } catch (e) {
    throw new FormatError(file, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FormatError(file, 'header is not a JSON object');
  }
  const dataStart = 8 + hlen;
  const dataSize = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const spans: { begin: number; end: number; name: string }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry) ||
          !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new FormatError(file, '__metadata__ must be an object of strings');
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw new FormatError(file, 'header entry is not an object', name);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) throw new FormatError(file, `unknown dtype ${JSON.stringify(dtype)}`, name);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      throw new FormatError(file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt) || offsets[0] > offsets[1]) {
      throw new FormatError(file, `data_offsets ${JSON.stringify(offsets)} are not [begin, end] with begin <= end`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) {
      throw new FormatError(file, `data_offsets [${begin}, ${end}] out of range: the data section holds ${dataSize} bytes`, name);
    }
    const expected = elementCount(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      throw new FormatError(file, `dtype/shape mismatch: ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets span ${end - begin}`, name);
    }
    spans.push({ begin, end, name });
    tensors.set(name, { name, dtype, shape: shape as number[], file, offset: dataStart + begin, byteLength: end - begin });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!, cur = spans[i]!;
    if (cur.begin < prev.end) {
      throw new FormatError(file, `data overlaps tensor '${prev.name}' ([${prev.begin}, ${prev.end}] vs [${cur.begin}, ${cur.end}])`, cur.name);
    }
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  /** The bytes, or a function making them when written (so large files never sit in memory whole). */
  data: Uint8Array | (() => Uint8Array);
}

export function tensorBytes(t: Pick<TensorToWrite, 'dtype' | 'shape'>): number {
  return elementCount(t.shape) * DTYPE_BYTES[t.dtype];
}

/** Writes one safetensors file; tensors are stored in the order given. */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const expected = tensorBytes(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, lenBuf);
    fs.writeSync(fd, json);
    for (const t of tensors) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (data.byteLength !== tensorBytes(t)) {
        throw new FormatError(file, `data holds ${data.byteLength} bytes, ${t.dtype} ${JSON.stringify(t.shape)} needs ${tensorBytes(t)}`, t.name);
      }
      fs.writeSync(fd, data);
    }
  } finally {
    fs.closeSync(fd);
  }
}
