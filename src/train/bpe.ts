// Training a SentencePiece BPE tokenizer and writing it as a real `tokenizer.model` (the protobuf
// ModelProto that sentencepiece and our tokenizer load) plus a Pangu-style tokenizer_config.json.
//
// The model is laid out as sentencepiece's BPE trainer lays it out: <unk>, <s>, </s> at 0, 1, 2;
// the user-defined symbols (Pangu's [unusedN] markers); the 256 byte pieces <0x00>..<0xFF>
// (byte_fallback); the merged pieces in merge order with score −i; then the single characters
// (most frequent first) with scores continuing downwards. Normalization is identity with
// add_dummy_prefix, whitespace kept as is (remove_extra_whitespaces false) and escaped to U+2581.
//
// Training: the text is split into words as sentencepiece does before BPE: a word starts at a
// space (U+2581 after escaping) or where the kind of character changes (letters, digits, other),
// each digit stands alone; characters covering `characterCoverage` of the text are kept, the rest
// are left to byte fallback. Then the most frequent adjacent pair is merged, again and again,
// until the vocabulary is full (ties: the pair whose merged piece sorts first).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelType, PieceType, byteToPiece } from '../tokenizer/sentencepiece-model.js';

export const SPACE = '\u2581';

/** Pangu's user-defined symbols (openPangu-Embedded-7B's tokenizer_config.json after <unk>, <s>, </s>). */
export const PANGU_USER_DEFINED: readonly string[] = ['<|User|>:', '<|Bot|>:', ...Array.from({ length: 34 }, (_, i) => `[unused${i}]`)];

/** The chat template of openPangu-Embedded-7B's tokenizer_config.json. */
export const PANGU_CHAT_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '[unused9]系统：[unused10]' }}{% endif %}{% if message['role'] == 'system' %}" +
  "{{ '[unused9]系统：' + message['content'] + '[unused10]' }}{% endif %}" +
  "{% if message['role'] == 'assistant' %}{{'[unused9]助手：' + message['content'] + '[unused10]'}}{% endif %}" +
  "{% if message['role'] == 'tool' %}{{'[unused9]工具：' + message['content'] + '[unused10]'}}{% endif %}" +
  "{% if message['role'] == 'function' %}{{'[unused9]方法：' + message['content'] + '[unused10]'}}{% endif %}" +
  "{% if message['role'] == 'user' %}{{'[unused9]用户：' + message['content'] + '[unused10]'}}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '[unused9]助手：' }}{% endif %}";

export interface BpeTrainOptions {
  vocabSize: number;
  userDefined?: readonly string[];
  characterCoverage?: number;
  maxPieceLength?: number;
  /** Called now and then with the number of merges done and to do. */
  onProgress?: (done: number, total: number) => void;
}

export interface TrainedPiece {
  piece: string;
  score: number;
  type: number;
}

const enum Kind { Space, Letter, Digit, Other }

function kindOf(ch: string): Kind {
  if (ch === SPACE) return Kind.Space;
  if (/^[\p{L}\p{M}]$/u.test(ch)) return Kind.Letter;
  if (/^\p{Nd}$/u.test(ch)) return Kind.Digit;
  return Kind.Other;
}

/** Text as sentencepiece sees it with identity normalization: dummy prefix, spaces as U+2581. */
export function escapeText(text: string): string {
  return SPACE + text.replace(/ /g, SPACE);
}

/** Splits escaped text into training words (see the file comment). */
export function splitWords(escaped: string): string[] {
  const chars = Array.from(escaped);
  const words: string[] = [];
  let cur = '';
  let curKind: Kind | null = null; // kind of the last non-space char of `cur`
  let prevSpace = false;
  for (const ch of chars) {
    const k = kindOf(ch);
    let boundary: boolean;
    if (k === Kind.Space) boundary = !prevSpace; // a run of spaces starts a word
    else if (prevSpace) boundary = false;         // the first char after the spaces joins them
    else boundary = curKind !== k || k === Kind.Digit;
    if (boundary && cur) {
      words.push(cur);
      cur = '';
    }
    cur += ch;
    prevSpace = k === Kind.Space;
    if (k !== Kind.Space) curKind = k;
    else if (boundary) curKind = null;
  }
  if (cur) words.push(cur);
  return words;
}

/** Counts the training words of some texts (each text a sentence or document). */
export function countWords(texts: Iterable<string>, counts = new Map<string, number>()): Map<string, number> {
  for (const t of texts) {
    for (const line of t.split('\n')) {
      if (!line) continue;
      for (const w of splitWords(escapeText(line))) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return counts;
}

/** A lazy max-heap of (count, key) entries. */
class PairHeap {
  private readonly items: { c: number; k: string }[] = [];
  push(c: number, k: string): void {
    const a = this.items;
    a.push({ c, k });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): { c: number; k: string } | undefined {
    const a = this.items;
    if (!a.length) return undefined;
    const top = a[0]!, last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && better(a[l]!, a[m]!)) m = l;
        if (r < a.length && better(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function better(x: { c: number; k: string }, y: { c: number; k: string }): boolean {
  return x.c > y.c || (x.c === y.c && x.k < y.k);
}

/** Trains BPE on word counts; returns the full piece list (specials, bytes, merges, chars). */
export function trainBpe(words: Map<string, number>, o: BpeTrainOptions): TrainedPiece[] {
  const userDefined = o.userDefined ?? PANGU_USER_DEFINED;
  const coverage = o.characterCoverage ?? 0.9995;
  const maxLen = o.maxPieceLength ?? 16;
  // Characters by frequency; keep those covering `coverage` of all character occurrences.
  const charCount = new Map<string, number>();
  let totalChars = 0;
  for (const [w, c] of words) for (const ch of w) {
    charCount.set(ch, (charCount.get(ch) ?? 0) + c);
    totalChars += c;
  }
  const chars = [...charCount.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const kept: string[] = [];
  let covered = 0;
  for (const [ch, c] of chars) {
    if (kept.length > 0 && covered / totalChars >= coverage) break;
    kept.push(ch);
    covered += c;
  }
  const fixed = 3 + userDefined.length + 256;
  const merges = o.vocabSize - fixed - kept.length;
  if (merges < 0) throw new Error(`vocab ${o.vocabSize} is too small: ${fixed} special and byte pieces and ${kept.length} characters need ${fixed + kept.length}`);

  // Symbols: id → string; words as symbol arrays (-1 = a character left to byte fallback).
  const sym: string[] = [...kept];
  const symId = new Map(kept.map((s, i) => [s, i]));
  const wordSyms: Int32Array[] = [];
  const wordFreq: number[] = [];
  for (const [w, c] of words) {
    wordSyms.push(Int32Array.from(Array.from(w), (ch) => symId.get(ch) ?? -1));
    wordFreq.push(c);
  }
  const symLen = kept.map(() => 1);
  const key = (a: number, b: number) => `${a},${b}`;
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addWord = (wi: number, sign: number) => {
    const s = wordSyms[wi]!, f = wordFreq[wi]! * sign;
    for (let i = 0; i + 1 < s.length; i++) {
      const a = s[i]!, b = s[i + 1]!;
      if (a < 0 || b < 0) continue;
      const k = key(a, b);
      pairCount.set(k, (pairCount.get(k) ?? 0) + f);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  for (let wi = 0; wi < wordSyms.length; wi++) addWord(wi, 1);
  const heap = new PairHeap();
  const pieceOf = (k: string) => {
    const [a, b] = k.split(',').map(Number);
    return sym[a!]! + sym[b!]!;
  };
  const heapKey = (k: string) => pieceOf(k); // ties: the merged piece that sorts first
  const keyByPiece = new Map<string, string>();
  const push = (k: string) => {
    const c = pairCount.get(k) ?? 0;
    if (c <= 0) return;
    const p = heapKey(k);
    keyByPiece.set(p, k);
    heap.push(c, p);
  };
  for (const k of pairCount.keys()) push(k);
  const merged: string[] = [];
  const seen = new Set(kept);
  while (merged.length < merges) {
    const top = heap.pop();
    if (!top) break;
    const k = keyByPiece.get(top.k)!;
    const c = pairCount.get(k) ?? 0;
    if (c !== top.c || c <= 0) continue; // stale entry
    const [a, b] = k.split(',').map(Number) as [number, number];
    const piece = sym[a]! + sym[b]!;
    const len = symLen[a]! + symLen[b]!;
    if (len > maxLen || seen.has(piece)) {
      pairCount.set(k, 0);
      continue;
    }
    const id = sym.length;
    sym.push(piece);
    symLen.push(len);
    symId.set(piece, id);
    seen.add(piece);
    merged.push(piece);
    if (o.onProgress && merged.length % 100 === 0) o.onProgress(merged.length, merges);
    const touched = new Set<string>();
    for (const wi of pairWords.get(k) ?? []) {
      const s = wordSyms[wi]!;
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) { has = true; break; }
      if (!has) continue;
      addWord(wi, -1);
      for (let i = 0; i + 1 < s.length; i++) if (s[i]! >= 0 && s[i + 1]! >= 0) touched.add(key(s[i]!, s[i + 1]!));
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]!);
      }
      wordSyms[wi] = Int32Array.from(out);
      addWord(wi, 1);
      for (let i = 0; i + 1 < out.length; i++) if (out[i]! >= 0 && out[i + 1]! >= 0) touched.add(key(out[i]!, out[i + 1]!));
    }
    pairCount.delete(k);
    for (const t of touched) push(t);
  }
  const pieces: TrainedPiece[] = [
    { piece: '<unk>', score: 0, type: PieceType.UNKNOWN },
    { piece: '<s>', score: 0, type: PieceType.CONTROL },
    { piece: '</s>', score: 0, type: PieceType.CONTROL },
    ...userDefined.map((p) => ({ piece: p, score: 0, type: PieceType.USER_DEFINED })),
    ...Array.from({ length: 256 }, (_, b) => ({ piece: byteToPiece(b), score: 0, type: PieceType.BYTE })),
  ];
  merged.forEach((p, i) => pieces.push({ piece: p, score: -i, type: PieceType.NORMAL }));
  kept.forEach((p, i) => pieces.push({ piece: p, score: -(merged.length + i), type: PieceType.NORMAL }));
  return pieces;
}

// ------------------------------------------------------------------ protobuf writer

class ProtoWriter {
  private readonly parts: number[] = [];
  varint(v: bigint | number): this {
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x) b |= 0x80;
      this.parts.push(b);
    } while (x);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bool(field: number, v: boolean): this {
    return this.int(field, v ? 1 : 0);
  }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...b);
    return this;
  }
  bytes(field: number, v: Uint8Array): this {
    this.tag(field, 2).varint(v.length);
    for (const x of v) this.parts.push(x);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** The ModelProto bytes of a BPE model with byte fallback and identity normalization. */
export function sentencePieceModelBytes(pieces: readonly TrainedPiece[]): Uint8Array {
  const m = new ProtoWriter();
  for (const p of pieces) m.message(1, new ProtoWriter().string(1, p.piece).float(2, p.score).int(3, p.type));
  const t = new ProtoWriter()
    .int(3, ModelType.BPE) // model_type
    .int(4, pieces.length) // vocab_size
    .float(10, 0.9995) // character_coverage
    .int(20, 16) // max_sentencepiece_length
    .bool(25, true) // split_digits
    .bool(35, true) // byte_fallback
    .int(40, 0).int(41, 1).int(42, 2).int(43, -1) // unk, bos, eos, pad ids
    .string(45, '<unk>').string(46, '<s>').string(47, '</s>').string(48, '<pad>');
  m.message(2, t);
  const n = new ProtoWriter()
    .string(1, 'identity')
    .bool(3, true) // add_dummy_prefix
    .bool(4, false) // remove_extra_whitespaces
    .bool(5, true); // escape_whitespaces
  m.message(3, n);
  return m.finish();
}

/** A Pangu-format tokenizer_config.json for the pieces (specials as added tokens, the real chat template). */
export function panguTokenizerConfig(pieces: readonly TrainedPiece[]): Record<string, unknown> {
  const added: Record<string, unknown> = {};
  pieces.forEach((p, i) => {
    if (p.type === PieceType.UNKNOWN || p.type === PieceType.CONTROL || p.type === PieceType.USER_DEFINED) {
      added[String(i)] = { content: p.piece, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
    }
  });
  return {
    add_bos_token: true,
    add_eos_token: false,
    add_prefix_space: true,
    added_tokens_decoder: added,
    auto_map: { AutoTokenizer: ['tokenization_openpangu.PanguTokenizer', null] },
    bos_token: '<s>',
    clean_up_tokenization_spaces: false,
    eos_token: '[unused10]',
    legacy: true,
    model_max_length: 1e30,
    pad_token: '<unk>',
    sp_model_kwargs: {},
    spaces_between_special_tokens: false,
    tokenizer_class: 'PanguTokenizer',
    unk_token: '<unk>',
    use_default_system_prompt: false,
    chat_template: PANGU_CHAT_TEMPLATE,
  };
}

/** Trains on text files and writes tokenizer.model + tokenizer_config.json into `out`. */
export function trainTokenizerFiles(files: readonly string[], out: string, o: BpeTrainOptions): TrainedPiece[] {
  const counts = new Map<string, number>();
  for (const f of files) countWords([fs.readFileSync(f, 'utf8')], counts);
  const pieces = trainBpe(counts, o);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'tokenizer.model'), sentencePieceModelBytes(pieces));
  fs.writeFileSync(path.join(out, 'tokenizer_config.json'), JSON.stringify(panguTokenizerConfig(pieces), null, 2) + '\n');
  return pieces;
}
