// SentencePiece encoding and decoding, following the behaviour of sentencepiece's C++ library:
// normalization (normalizer.ts), BPE merging by piece score with user-defined symbols frozen,
// unigram Viterbi (the "optimized" encoder, sentencepiece's default), byte fallback and merging of
// unknown runs, and the decoder's handling of byte pieces, <unk> and the leading whitespace.

import { readFileSync } from 'node:fs';
import {
  ModelType,
  PieceType,
  SentencePieceModelError,
  byteToPiece,
  parseSentencePieceModel,
  pieceToByte,
  type SentencePieceModelProto,
} from './sentencepiece-model.js';
import { Normalizer, PrefixMatcher } from './normalizer.js';
import {
  REPLACEMENT_BIN,
  SPACE_SYMBOL_BIN,
  bytesNeeded,
  fromBinary,
  isValidUtf8At,
  toBinary,
} from './utf8.js';

const K_UNK_PENALTY = 10.0;
/** FLT_MIN: the (positive) start value of the unigram model's max score, kept for exactness. */
const FLT_MIN = 1.1754943508222875e-38;
const FLT_MAX = 3.4028234663852886e38;
const DEFAULT_UNK_SURFACE_BIN = ' \xE2\x81\x87 ';

/** [piece as binary string, id] */
type EncodeResult = Array<[string, number]>;

interface SymbolPair {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** Max-heap on (score, then smaller left), the order of sentencepiece's BPE agenda. */
class PairHeap {
  private readonly items: SymbolPair[] = [];

  get length(): number {
    return this.items.length;
  }

  private static better(a: SymbolPair, b: SymbolPair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(p: SymbolPair): void {
    const a = this.items;
    a.push(p);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!PairHeap.better(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): SymbolPair | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && PairHeap.better(a[l]!, a[best]!)) best = l;
        if (r < a.length && PairHeap.better(a[r]!, a[best]!)) best = r;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return top;
  }
}

export class SentencePiece {
  readonly proto: SentencePieceModelProto;
  /** Pieces as binary strings, by id. */
  private readonly pieceBins: string[];
  private readonly types: Uint8Array;
  private readonly scores: Float32Array;
  /** NORMAL, USER_DEFINED and UNUSED pieces. */
  private readonly normalPieces = new Map<string, number>();
  /** CONTROL, UNKNOWN and BYTE pieces. */
  private readonly reservedPieces = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly matcher: PrefixMatcher;
  private readonly normalizer: Normalizer;
  private readonly denormalizer: Normalizer | undefined;
  private readonly maxPieceBytes: number;
  private readonly minScore: number;
  private readonly maxScore: number;
  readonly unkId: number;
  readonly modelType: 'bpe' | 'unigram';
  /** BPE: (left id * pieces + right id) → merged piece id, or -1 when the pair does not merge. */
  private readonly pairCache = new Map<number, number>();
  /** Unigram: every piece (→ id) and every proper prefix of a piece (→ -1). */
  private readonly unigramPrefixes = new Map<string, number>();
  /** PieceToId(IdToPiece(id)): what sentencepiece decodes an id's piece as. */
  private readonly canonical: Int32Array;

  constructor(proto: SentencePieceModelProto) {
    this.proto = proto;
    const n = proto.pieces.length;
    this.pieceBins = new Array<string>(n);
    this.types = new Uint8Array(n);
    this.scores = new Float32Array(n);
    const userDefined: string[] = [];
    let unk = -1;
    let maxLen = 0;
    let minScore = FLT_MAX;
    let maxScore = FLT_MIN;
    for (let i = 0; i < n; i++) {
      const p = proto.pieces[i]!;
      this.pieceBins[i] = p.bytes;
      this.types[i] = p.type;
      this.scores[i] = p.score;
      if (p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED) {
        this.normalPieces.set(p.bytes, i);
        if (p.bytes.length > maxLen) maxLen = p.bytes.length;
      } else {
        this.reservedPieces.set(p.bytes, i);
      }
      if (p.type === PieceType.USER_DEFINED) userDefined.push(p.bytes);
      if (p.type === PieceType.UNKNOWN) unk = i;
      if (p.type === PieceType.BYTE) this.byteIds[pieceToByte(p.bytes)] = i;
      if (p.type === PieceType.NORMAL) {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
    }
    this.unkId = unk;
    this.maxPieceBytes = maxLen;
    this.minScore = minScore;
    this.maxScore = maxScore;
    this.modelType = proto.trainerSpec.modelType === ModelType.BPE ? 'bpe' : 'unigram';
    this.matcher = new PrefixMatcher(userDefined);
    this.normalizer = new Normalizer(proto.normalizerSpec, proto.trainerSpec.treatWhitespaceAsSuffix);
    this.normalizer.setPrefixMatcher(this.matcher);
    this.denormalizer = proto.denormalizerSpec ? new Normalizer(proto.denormalizerSpec) : undefined;
    this.canonical = new Int32Array(n);
    for (let i = 0; i < n; i++) this.canonical[i] = this.pieceToIdBin(this.pieceBins[i]!);
    if (this.modelType === 'unigram') {
      for (const bin of this.normalPieces.keys()) {
        for (let k = 1; k < bin.length; k++) {
          const pre = bin.slice(0, k);
          if (!this.unigramPrefixes.has(pre)) this.unigramPrefixes.set(pre, -1);
        }
      }
      for (const [bin, id] of this.normalPieces) this.unigramPrefixes.set(bin, id);
    }
  }

  /** @internal The id sentencepiece's decoder uses for `id` (PieceToId of its piece). */
  canonicalId(id: number): number {
    return this.canonical[id]!;
  }

  /** Reads and parses a tokenizer.model file; errors name the file. */
  static load(file: string): SentencePiece {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw new SentencePieceModelError(file, `cannot read the file: ${(err as Error).message}`);
    }
    return SentencePiece.fromBuffer(data, file);
  }

  static fromBuffer(data: Uint8Array, file = 'tokenizer.model'): SentencePiece {
    return new SentencePiece(parseSentencePieceModel(data, file));
  }

  get pieceCount(): number {
    return this.pieceBins.length;
  }

  get bosId(): number {
    return this.proto.trainerSpec.bosId;
  }

  get eosId(): number {
    return this.proto.trainerSpec.eosId;
  }

  get padId(): number {
    return this.proto.trainerSpec.padId;
  }

  get byteFallback(): boolean {
    return this.proto.trainerSpec.byteFallback;
  }

  /** The piece of an id, as text (U+2581 kept). Throws for ids out of range. */
  idToPiece(id: number): string {
    this.checkId(id);
    return this.proto.pieces[id]!.piece;
  }

  /** The id of a piece (text), or the unknown id, as sentencepiece's PieceToId. */
  pieceToId(piece: string): number {
    const bin = toBinary(piece);
    return this.reservedPieces.get(bin) ?? this.normalPieces.get(bin) ?? this.unkId;
  }

  isControl(id: number): boolean {
    return this.types[id] === PieceType.CONTROL;
  }

  isUnknown(id: number): boolean {
    return this.types[id] === PieceType.UNKNOWN;
  }

  isByte(id: number): boolean {
    return this.types[id] === PieceType.BYTE;
  }

  isUserDefined(id: number): boolean {
    return this.types[id] === PieceType.USER_DEFINED;
  }

  isUnused(id: number): boolean {
    return this.types[id] === PieceType.UNUSED;
  }

  pieceType(id: number): number {
    this.checkId(id);
    return this.types[id]!;
  }

  score(id: number): number {
    this.checkId(id);
    return this.scores[id]!;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieceBins.length) {
      throw new RangeError(`token id ${id} is out of range (the model has ${this.pieceBins.length} pieces)`);
    }
  }

  /** The normalized form of `text` (U+2581 for spaces, dummy prefix...), as text. */
  normalize(text: string): string {
    return fromBinary(this.normalizer.normalize(toBinary(text)));
  }

  /** Encodes text to ids, exactly as SentencePieceProcessor::Encode (no bos/eos). */
  encode(text: string): number[] {
    return this.encodeWithPieces(text).map(([, id]) => id);
  }

  /** Encodes text to pieces (text, as sentencepiece's encode with out_type=str). */
  encodeAsPieces(text: string): string[] {
    return this.encodeWithPieces(text).map(([p]) => fromBinary(p));
  }

  /** @internal Pieces (binary strings) and ids of `text`. */
  encodeWithPieces(text: string): EncodeResult {
    const normalized = this.normalizer.normalize(toBinary(text));
    if (normalized.length === 0) return [];
    const result = this.modelType === 'bpe' ? this.encodeBpe(normalized) : this.encodeUnigram(normalized);
    return this.postprocess(result);
  }

  /** Byte fallback for unknown pieces, or merging of runs of unknown pieces (PopulateSentencePieceText). */
  private postprocess(result: EncodeResult): EncodeResult {
    const out: EncodeResult = [];
    const byteFallback = this.proto.trainerSpec.byteFallback;
    let prevUnk = false;
    for (const [w, id] of result) {
      const isUnk = this.types[id] === PieceType.UNKNOWN;
      if (this.types[id] === PieceType.CONTROL) {
        out.push([w, id]);
      } else if (isUnk && byteFallback) {
        for (let i = 0; i < w.length; i++) {
          const b = w.charCodeAt(i);
          out.push([toBinary(byteToPiece(b)), this.byteIds[b]!]);
        }
      } else if (prevUnk && isUnk) {
        const last = out[out.length - 1]!;
        last[0] += w;
      } else {
        out.push([w, id]);
      }
      prevUnk = isUnk;
    }
    return out;
  }

  /** @internal PieceToId for a binary-string piece. */
  pieceToIdBin(bin: string): number {
    return this.reservedPieces.get(bin) ?? this.normalPieces.get(bin) ?? this.unkId;
  }

  private encodeBpe(normalized: string): EncodeResult {
    // Symbols as a doubly linked list over the normalized bytes; symId is the piece id of the
    // symbol's current text (-1 if it is no piece), which keys a cache of pair merges.
    const cap = normalized.length;
    const prev = new Int32Array(cap);
    const next = new Int32Array(cap);
    const start = new Int32Array(cap);
    const len = new Int32Array(cap);
    const symId = new Int32Array(cap);
    const freeze = new Uint8Array(cap);
    let count = 0;
    let pos = 0;
    while (pos < normalized.length) {
      const [l, found] = this.matcher.prefixMatch(normalized, pos);
      prev[count] = count - 1;
      next[count] = pos + l < normalized.length ? count + 1 : -1;
      start[count] = pos;
      len[count] = l;
      freeze[count] = found ? 1 : 0;
      symId[count] = this.normalPieces.get(normalized.substr(pos, l)) ?? -1;
      count++;
      pos += l;
    }
    if (count === 0) return [];

    const agenda = new PairHeap();
    // Reverse merge rules for UNUSED pieces: merged piece → [left piece, right piece].
    const revMerge = new Map<string, [string, string]>();
    const n = this.pieceBins.length;
    const cache = this.pairCache;
    const maybeAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1 || freeze[left] || freeze[right]) return;
      let id: number | undefined;
      const li = symId[left]!;
      const ri = symId[right]!;
      if (li >= 0 && ri >= 0) {
        const key = li * n + ri;
        id = cache.get(key);
        if (id === undefined) {
          id = this.normalPieces.get(this.pieceBins[li]! + this.pieceBins[ri]!) ?? -1;
          cache.set(key, id);
        }
      } else {
        id = this.normalPieces.get(normalized.substr(start[left]!, len[left]! + len[right]!)) ?? -1;
      }
      if (id < 0) return;
      agenda.push({ left, right, score: this.scores[id]!, size: len[left]! + len[right]! });
      if (this.types[id] === PieceType.UNUSED) {
        revMerge.set(this.pieceBins[id]!, [normalized.substr(start[left]!, len[left]!), normalized.substr(start[right]!, len[right]!)]);
      }
    };
    for (let i = 1; i < count; i++) maybeAdd(i - 1, i);

    for (;;) {
      const top = agenda.pop();
      if (!top) break;
      const l = top.left;
      const r = top.right;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== top.size) continue;
      len[l] = len[l]! + len[r]!;
      symId[l] = this.normalPieces.get(normalized.substr(start[l]!, len[l]!)) ?? -1;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      len[r] = 0;
      maybeAdd(prev[l]!, l);
      maybeAdd(l, next[l]!);
    }

    const out: EncodeResult = [];
    const resegment = (w: string): void => {
      const id = this.pieceToIdBin(w);
      if (this.types[id] !== PieceType.UNUSED) {
        out.push([w, id]);
        return;
      }
      const p = revMerge.get(w);
      if (!p) {
        out.push([w, id]);
        return;
      }
      resegment(p[0]);
      resegment(p[1]);
    };
    for (let index = 0; index !== -1; index = next[index]!) {
      resegment(normalized.substr(start[index]!, len[index]!));
    }
    return out;
  }

  private encodeUnigram(normalized: string): EncodeResult {
    const size = normalized.length;
    const unkScore = Math.fround(this.minScore - K_UNK_PENALTY);
    const maxScore = this.maxScore;
    // Best path ending at each byte position: score (float32), start, id.
    const bestScore = new Float32Array(size + 1);
    const bestStart = new Int32Array(size + 1).fill(-1);
    const bestId = new Int32Array(size + 1).fill(-1);
    let startsAt = 0;
    while (startsAt < size) {
      const tillHere = bestScore[startsAt]!;
      let hasSingleNode = false;
      const lead = normalized.charCodeAt(startsAt);
      const mblen = Math.min(lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4, size - startsAt);
      const maxEnd = Math.min(size, startsAt + this.maxPieceBytes);
      const prefixes = this.unigramPrefixes;
      for (let end = startsAt + 1; end <= maxEnd; end++) {
        // -1: a proper prefix of some piece only; undefined: no piece continues this way.
        const id = prefixes.get(normalized.slice(startsAt, end));
        if (id === undefined) break;
        if (id < 0) continue;
        if (this.types[id] === PieceType.UNUSED) continue;
        const length = end - startsAt;
        // User-defined symbols get a bonus so that they are always chosen. The C++ computes
        // `length * max_score_` in float, subtracts 0.1 in double and adds the path score in double.
        const score = this.types[id] === PieceType.USER_DEFINED ? Math.fround(length * maxScore) - 0.1 : this.scores[id]!;
        const candidate = score + tillHere;
        if (bestStart[end] === -1 || candidate > bestScore[end]!) {
          bestScore[end] = candidate;
          bestStart[end] = startsAt;
          bestId[end] = id;
        }
        if (!hasSingleNode && length === mblen) hasSingleNode = true;
      }
      if (!hasSingleNode) {
        const end = startsAt + mblen;
        const candidate = Math.fround(unkScore + tillHere);
        if (bestStart[end] === -1 || candidate > bestScore[end]!) {
          bestScore[end] = candidate;
          bestStart[end] = startsAt;
          bestId[end] = this.unkId;
        }
      }
      startsAt += mblen;
    }
    const out: EncodeResult = [];
    let endsAt = size;
    while (endsAt > 0) {
      const s = bestStart[endsAt]!;
      out.push([normalized.slice(s, endsAt), bestId[endsAt]!]);
      endsAt = s;
    }
    out.reverse();
    return out;
  }

  /** Decodes ids to text exactly as sentencepiece's DecodeIds. Throws for ids out of range. */
  decode(ids: readonly number[]): string {
    for (const id of ids) this.checkId(id);
    const d = this.newPieceDecoder();
    let out = '';
    for (const id of ids) out += d.push(id);
    out += d.flush();
    if (this.denormalizer) out = this.denormalizer.normalize(out);
    return fromBinary(out);
  }

  /** @internal A piecewise decoder with the state of sentencepiece's Decode loop. */
  newPieceDecoder(): PieceDecoder {
    return new PieceDecoder(this);
  }

  /** @internal */
  get hasDenormalizer(): boolean {
    return this.denormalizer !== undefined;
  }

  /** @internal Applies the denormalizer (if any) to decoded text given as a binary string. */
  denormalize(bin: string): string {
    return this.denormalizer ? this.denormalizer.normalize(bin) : bin;
  }

  /** @internal */
  pieceBin(id: number): string {
    return this.pieceBins[id]!;
  }

  /** @internal */
  get unkSurfaceBin(): string {
    return this.proto.trainerSpec.unkSurface ?? DEFAULT_UNK_SURFACE_BIN;
  }
}

/**
 * Decodes ids one at a time with the state of sentencepiece's Decode: byte pieces are held until
 * the character they belong to is complete (or can no longer become valid), and the first
 * whitespace mark is dropped as sentencepiece drops it. Output is binary strings of whole UTF-8
 * characters, so concatenating the pieces of output gives the same bytes as a one-shot decode.
 */
export class PieceDecoder {
  private pending = '';
  private isBosWs = true;
  private bosWsSeen = false;
  private textEmpty = true;
  private readonly stripBosWs: boolean;
  private readonly removeExtra: boolean;

  constructor(private readonly sp: SentencePiece) {
    const spec = sp.proto.normalizerSpec;
    this.stripBosWs = spec.addDummyPrefix || spec.removeExtraWhitespaces;
    this.removeExtra = spec.removeExtraWhitespaces;
  }

  private emit(s: string): string {
    if (s.length > 0) this.textEmpty = false;
    return s;
  }

  /** Turns the held bytes into text; unless `final`, keeps a trailing character that may still complete. */
  private drainBytes(final: boolean): string {
    let out = '';
    let off = 0;
    const p = this.pending;
    while (off < p.length) {
      if (!final && p.length - off < bytesNeeded(p.charCodeAt(off))) break;
      const [ok, n] = isValidUtf8At(p, off);
      out += ok ? p.slice(off, off + n) : REPLACEMENT_BIN;
      off += n;
    }
    this.pending = p.slice(off);
    return this.emit(out);
  }

  /** Feeds one id (assumed in range); returns the text (binary string) that became final. */
  push(id: number): string {
    const sp = this.sp;
    if (sp.isByte(id)) {
      this.pending += String.fromCharCode(pieceToByte(sp.pieceBin(id)));
      return this.drainBytes(false);
    }
    let out = this.drainBytes(true);
    if (this.bosWsSeen || !this.textEmpty) this.isBosWs = false;
    let decoded: string;
    let hasBosWs = false;
    if (sp.isControl(id)) {
      decoded = '';
    } else if (sp.isUnknown(id)) {
      decoded = sp.unkSurfaceBin;
    } else {
      let piece = sp.pieceBin(id);
      if (this.isBosWs && this.stripBosWs) {
        if (piece.startsWith(SPACE_SYMBOL_BIN)) {
          piece = piece.slice(SPACE_SYMBOL_BIN.length);
          hasBosWs = true;
        }
        if (this.removeExtra) hasBosWs = false;
      }
      decoded = piece.replaceAll(SPACE_SYMBOL_BIN, ' ');
    }
    this.bosWsSeen = hasBosWs;
    out += this.emit(decoded);
    return out;
  }

  /** Ends the sequence: any held bytes become text (malformed ones as U+FFFD). */
  flush(): string {
    return this.drainBytes(true);
  }

  /** True when bytes are held back waiting for the rest of a character. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }
}
