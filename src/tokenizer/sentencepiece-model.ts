// Decoder for SentencePiece's `tokenizer.model`: a protobuf `ModelProto` (proto2) of which only a
// handful of fields matter for encoding and decoding. This is a small hand-written wire-format
// reader, not a general protobuf library: every length is checked against the buffer, so a corrupt
// or truncated file ends in a `SentencePieceModelError` that names the file and the problem.

/** Piece types of `ModelProto.SentencePiece.Type`. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type PieceTypeValue = (typeof PieceType)[keyof typeof PieceType];

/** `TrainerSpec.ModelType`. */
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;
export type ModelTypeValue = (typeof ModelType)[keyof typeof ModelType];

export interface SentencePieceEntry {
  /** The piece as UTF-8 bytes held in a "binary string" (one char per byte, codes 0..255). */
  bytes: string;
  /** The piece as a JavaScript string (decoded UTF-8). */
  piece: string;
  /** float32 score. */
  score: number;
  type: PieceTypeValue;
}

export interface TrainerSpecInfo {
  modelType: number;
  vocabSize: number;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  /** Surface of `<unk>` when decoding, as a binary string; undefined when the field is absent. */
  unkSurface: string | undefined;
}

export interface NormalizerSpecInfo {
  name: string;
  /** Raw precompiled_charsmap bytes (empty when absent). */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModelProto {
  pieces: SentencePieceEntry[];
  trainerSpec: TrainerSpecInfo;
  normalizerSpec: NormalizerSpecInfo;
  /** Present only when the model has a denormalizer with a non-empty charsmap. */
  denormalizerSpec: NormalizerSpecInfo | undefined;
}

/** A tokenizer.model that cannot be read or is not a usable SentencePiece model. */
export class SentencePieceModelError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'SentencePieceModelError';
  }
}

/** Thrown by the reader; converted to SentencePieceModelError with the file name. */
class WireError extends Error {}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_SGROUP = 3;
const WIRE_EGROUP = 4;
const WIRE_I32 = 5;

class Reader {
  pos: number;
  constructor(readonly buf: Uint8Array, start: number, readonly end: number, readonly what: string) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`truncated varint in ${this.what} at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result & 0xffffffffffffffffn;
      shift += 7n;
    }
    throw new WireError(`malformed varint (more than 10 bytes) in ${this.what} at byte ${this.pos}`);
  }

  /** A varint that must fit a small non-negative number (tags, lengths). */
  smallVarint(): number {
    const start = this.pos;
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new WireError(`implausible length/tag ${v} in ${this.what} at byte ${start}`);
    }
    return Number(v);
  }

  /** Interprets a varint as proto int32 (negative values are sign-extended to 64 bits). */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  bool(): boolean {
    return this.varint() !== 0n;
  }

  float(): number {
    if (this.pos + 4 > this.end) throw new WireError(`truncated float in ${this.what} at byte ${this.pos}`);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4);
    this.pos += 4;
    return dv.getFloat32(0, true);
  }

  /** Returns [start, end) of a length-delimited field's payload and skips it. */
  lengthDelimited(): [number, number] {
    const at = this.pos;
    const len = this.smallVarint();
    const start = this.pos;
    if (start + len > this.end) {
      throw new WireError(
        `truncated field in ${this.what}: a length of ${len} bytes at byte ${at} runs past the end (${this.end - start} left)`,
      );
    }
    this.pos = start + len;
    return [start, start + len];
  }

  skip(wireType: number, field: number, depth = 0): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.end) throw new WireError(`truncated fixed64 in ${this.what} at byte ${this.pos}`);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.end) throw new WireError(`truncated fixed32 in ${this.what} at byte ${this.pos}`);
        this.pos += 4;
        return;
      case WIRE_SGROUP: {
        if (depth > 64) throw new WireError(`groups nested too deeply in ${this.what}`);
        for (;;) {
          if (this.done) throw new WireError(`unterminated group (field ${field}) in ${this.what}`);
          const tag = this.smallVarint();
          const wt = tag & 7;
          if (wt === WIRE_EGROUP) {
            if (tag >>> 3 !== field) throw new WireError(`mismatched end of group in ${this.what}`);
            return;
          }
          this.skip(wt, Math.floor(tag / 8), depth + 1);
        }
      }
      default:
        throw new WireError(`invalid wire type ${wireType} (field ${field}) in ${this.what} at byte ${this.pos}`);
    }
  }

  /** Reads the next tag; returns [fieldNumber, wireType]. */
  tag(): [number, number] {
    const at = this.pos;
    const tag = this.smallVarint();
    const field = Math.floor(tag / 8);
    if (field === 0) throw new WireError(`invalid field number 0 in ${this.what} at byte ${at}`);
    return [field, tag & 7];
  }

  expect(wireType: number, want: number, field: number, name: string): void {
    if (wireType !== want) {
      throw new WireError(`field ${name} (${field}) of ${this.what} has wire type ${wireType}, expected ${want}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8');

function binaryString(buf: Uint8Array, start: number, end: number): string {
  // latin1 maps each byte to the char of the same code.
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}

function parsePiece(buf: Uint8Array, start: number, end: number, index: number): SentencePieceEntry {
  const r = new Reader(buf, start, end, `piece #${index}`);
  let bytes = '';
  let piece = '';
  let score = 0;
  let type: PieceTypeValue = PieceType.NORMAL;
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1) {
      r.expect(wt, WIRE_LEN, field, 'piece');
      const [s, e] = r.lengthDelimited();
      bytes = binaryString(buf, s, e);
      piece = utf8.decode(buf.subarray(s, e));
    } else if (field === 2) {
      r.expect(wt, WIRE_I32, field, 'score');
      score = r.float();
    } else if (field === 3) {
      r.expect(wt, WIRE_VARINT, field, 'type');
      const v = r.int32();
      // proto2 keeps unknown enum values out of the field: it stays NORMAL.
      if (v >= 1 && v <= 6) type = v as PieceTypeValue;
    } else {
      r.skip(wt, field);
    }
  }
  return { bytes, piece, score, type };
}

function parseTrainerSpec(buf: Uint8Array, start: number, end: number): TrainerSpecInfo {
  const r = new Reader(buf, start, end, 'trainer_spec');
  const spec: TrainerSpecInfo = {
    modelType: ModelType.UNIGRAM,
    vocabSize: 8000,
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    unkPiece: '<unk>',
    bosPiece: '<s>',
    eosPiece: '</s>',
    padPiece: '<pad>',
    unkSurface: undefined,
  };
  const str = (): string => {
    const [s, e] = r.lengthDelimited();
    return utf8.decode(buf.subarray(s, e));
  };
  while (!r.done) {
    const [field, wt] = r.tag();
    const varintField = (name: string): void => r.expect(wt, WIRE_VARINT, field, name);
    const lenField = (name: string): void => r.expect(wt, WIRE_LEN, field, name);
    switch (field) {
      case 3: {
        varintField('model_type');
        const v = r.int32();
        if (v >= 1 && v <= 4) spec.modelType = v;
        else spec.modelType = v; // kept so that the caller can report an unsupported type
        break;
      }
      case 4: varintField('vocab_size'); spec.vocabSize = r.int32(); break;
      case 24: varintField('treat_whitespace_as_suffix'); spec.treatWhitespaceAsSuffix = r.bool(); break;
      case 35: varintField('byte_fallback'); spec.byteFallback = r.bool(); break;
      case 40: varintField('unk_id'); spec.unkId = r.int32(); break;
      case 41: varintField('bos_id'); spec.bosId = r.int32(); break;
      case 42: varintField('eos_id'); spec.eosId = r.int32(); break;
      case 43: varintField('pad_id'); spec.padId = r.int32(); break;
      case 44: {
        lenField('unk_surface');
        const [s, e] = r.lengthDelimited();
        spec.unkSurface = binaryString(buf, s, e);
        break;
      }
      case 45: lenField('unk_piece'); spec.unkPiece = str(); break;
      case 46: lenField('bos_piece'); spec.bosPiece = str(); break;
      case 47: lenField('eos_piece'); spec.eosPiece = str(); break;
      case 48: lenField('pad_piece'); spec.padPiece = str(); break;
      default: r.skip(wt, field);
    }
  }
  return spec;
}

function parseNormalizerSpec(buf: Uint8Array, start: number, end: number, what: string): NormalizerSpecInfo {
  const r = new Reader(buf, start, end, what);
  const spec: NormalizerSpecInfo = {
    name: '',
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  while (!r.done) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1: {
        r.expect(wt, WIRE_LEN, field, 'name');
        const [s, e] = r.lengthDelimited();
        spec.name = utf8.decode(buf.subarray(s, e));
        break;
      }
      case 2: {
        r.expect(wt, WIRE_LEN, field, 'precompiled_charsmap');
        const [s, e] = r.lengthDelimited();
        spec.precompiledCharsmap = buf.slice(s, e);
        break;
      }
      case 3: r.expect(wt, WIRE_VARINT, field, 'add_dummy_prefix'); spec.addDummyPrefix = r.bool(); break;
      case 4: r.expect(wt, WIRE_VARINT, field, 'remove_extra_whitespaces'); spec.removeExtraWhitespaces = r.bool(); break;
      case 5: r.expect(wt, WIRE_VARINT, field, 'escape_whitespaces'); spec.escapeWhitespaces = r.bool(); break;
      default: r.skip(wt, field);
    }
  }
  return spec;
}

/**
 * Parses the bytes of a SentencePiece model. `file` only labels errors.
 * Checks what sentencepiece checks when it loads a model (non-empty unique pieces, exactly one
 * unknown piece, 256 byte pieces when byte_fallback is set, a supported model type) and, beyond
 * that, that the trainer and normalizer specs are present, since a file cut short loses them.
 */
export function parseSentencePieceModel(data: Uint8Array, file = 'tokenizer.model'): SentencePieceModelProto {
  if (data.length === 0) throw new SentencePieceModelError(file, 'the file is empty');
  const pieces: SentencePieceEntry[] = [];
  let trainerSpec: TrainerSpecInfo | undefined;
  let normalizerSpec: NormalizerSpecInfo | undefined;
  let denormalizerSpec: NormalizerSpecInfo | undefined;
  try {
    const r = new Reader(data, 0, data.length, 'ModelProto');
    while (!r.done) {
      const [field, wt] = r.tag();
      if (field >= 1 && field <= 5) r.expect(wt, WIRE_LEN, field, ['pieces', 'trainer_spec', 'normalizer_spec', 'self_test_data', 'denormalizer_spec'][field - 1]!);
      if (field === 1) {
        const [s, e] = r.lengthDelimited();
        pieces.push(parsePiece(data, s, e, pieces.length));
      } else if (field === 2) {
        const [s, e] = r.lengthDelimited();
        trainerSpec = parseTrainerSpec(data, s, e);
      } else if (field === 3) {
        const [s, e] = r.lengthDelimited();
        normalizerSpec = parseNormalizerSpec(data, s, e, 'normalizer_spec');
      } else if (field === 5) {
        const [s, e] = r.lengthDelimited();
        denormalizerSpec = parseNormalizerSpec(data, s, e, 'denormalizer_spec');
      } else {
        r.skip(wt, field);
      }
    }
  } catch (err) {
    if (err instanceof WireError) {
      throw new SentencePieceModelError(file, `not a valid SentencePiece model (corrupt or truncated protobuf): ${err.message}`);
    }
    throw err;
  }

  const fail = (reason: string): never => {
    throw new SentencePieceModelError(file, reason);
  };
  if (pieces.length === 0) fail('no pieces found: this is not a SentencePiece model, or it is truncated');
  if (!trainerSpec) fail('trainer_spec is missing: the file is truncated or not a SentencePiece model');
  if (!normalizerSpec) fail('normalizer_spec is missing: the file is truncated or not a SentencePiece model');
  const ts = trainerSpec!;
  if (ts.modelType !== ModelType.BPE && ts.modelType !== ModelType.UNIGRAM) {
    const names: Record<number, string> = { 3: 'WORD', 4: 'CHAR' };
    fail(`model_type ${names[ts.modelType] ?? ts.modelType} is not supported (only BPE and UNIGRAM)`);
  }

  const normal = new Set<string>();
  const reserved = new Set<string>();
  let unk = -1;
  const bytesFound = new Array<boolean>(256).fill(false);
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (p.bytes.length === 0) fail(`piece #${i} is empty`);
    const isNormal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
    const set = isNormal ? normal : reserved;
    if (set.has(p.bytes)) fail(`piece ${JSON.stringify(p.piece)} (#${i}) is already defined`);
    set.add(p.bytes);
    if (p.type === PieceType.UNKNOWN) {
      if (unk >= 0) fail(`a second unknown piece at #${i} (the first is #${unk})`);
      unk = i;
    }
    if (p.type === PieceType.BYTE) {
      if (!ts.byteFallback) fail(`byte piece ${p.piece} (#${i}) is found although byte_fallback is false`);
      const b = pieceToByte(p.bytes);
      if (b < 0) fail(`byte piece ${JSON.stringify(p.piece)} (#${i}) is invalid`);
      bytesFound[b] = true;
    }
  }
  if (unk < 0) fail('no unknown piece (<unk>) is defined');
  if (ts.byteFallback && bytesFound.includes(false)) fail('there are not 256 byte pieces although byte_fallback is true');

  if (normalizerSpec!.precompiledCharsmap.length > 0) validateCharsmap(normalizerSpec!.precompiledCharsmap, file, 'normalizer_spec');
  if (denormalizerSpec && denormalizerSpec.precompiledCharsmap.length > 0) {
    validateCharsmap(denormalizerSpec.precompiledCharsmap, file, 'denormalizer_spec');
  } else {
    denormalizerSpec = undefined;
  }

  return { pieces, trainerSpec: ts, normalizerSpec: normalizerSpec!, denormalizerSpec };
}

/** Checks the header of a precompiled_charsmap blob as sentencepiece does. */
export function validateCharsmap(blob: Uint8Array, file: string, what: string): void {
  if (blob.length <= 4) throw new SentencePieceModelError(file, `${what}.precompiled_charsmap is broken (too short)`);
  const trieSize = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
  if (trieSize + 4 > blob.length) {
    throw new SentencePieceModelError(file, `${what}.precompiled_charsmap is broken: trie size ${trieSize} exceeds the blob (${blob.length} bytes)`);
  }
  if (trieSize % 4 !== 0 || trieSize === 0) {
    throw new SentencePieceModelError(file, `${what}.precompiled_charsmap is broken: trie size ${trieSize} is not a positive multiple of 4`);
  }
}

/** `<0x41>` → 0x41; anything else → -1. Input is a binary string. */
export function pieceToByte(piece: string): number {
  const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
  return m ? parseInt(m[1]!, 16) : -1;
}

export function byteToPiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}
