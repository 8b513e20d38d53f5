// The tokenizer in GGUF metadata, both ways (docs/GGUF.md, "Tokenizer").
//
// Writing follows llama.cpp's convert_hf_to_gguf.py `_set_vocab_sentencepiece` (plus its Pangu
// converter's add_space_prefix): tokenizer.ggml.model "llama", pre "default", one token / score /
// token_type per id up to the model's vocab_size (ids past the SentencePiece model are
// "[PAD{id}]", UNUSED, -10000), the added tokens of tokenizer_config.json overwriting their ids
// (special → CONTROL, others → USER_DEFINED, score -1000), the special ids, add_bos_token /
// add_eos_token and the chat template. A few keys are written beyond llama.cpp's, only where its
// keys would not say what the directory's tokenizer does (see `tokenizerMetadata`).
//
// Reading rebuilds a SentencePiece model (pieces, scores, types) and the Hugging Face layer on top
// of it (added tokens = CONTROL and USER_DEFINED tokens, special tokens from the ids, chat
// templates) so that encode / decode / chat templates give what the directory's tokenizer gives.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GgufType, kv, type GgufFile, type GgufMetadata, type GgufScalar, type GgufValue } from '../formats/gguf.js';
import {
  ModelType,
  PieceType,
  pieceToByte,
  validateCharsmap,
  type PieceTypeValue,
  type SentencePieceEntry,
  type SentencePieceModelProto,
} from './sentencepiece-model.js';
import { SentencePiece } from './sentencepiece.js';
import { Tokenizer, TokenizerLoadError, type TokenizerConfig } from './tokenizer.js';
import { toBinary } from './utf8.js';

export const KEY = {
  MODEL: 'tokenizer.ggml.model',
  PRE: 'tokenizer.ggml.pre',
  TOKENS: 'tokenizer.ggml.tokens',
  SCORES: 'tokenizer.ggml.scores',
  TOKEN_TYPE: 'tokenizer.ggml.token_type',
  BOS: 'tokenizer.ggml.bos_token_id',
  EOS: 'tokenizer.ggml.eos_token_id',
  EOS_IDS: 'tokenizer.ggml.eos_token_ids',
  EOT: 'tokenizer.ggml.eot_token_id',
  UNK: 'tokenizer.ggml.unknown_token_id',
  SEP: 'tokenizer.ggml.seperator_token_id', // sic: gguf-py's spelling
  PAD: 'tokenizer.ggml.padding_token_id',
  MASK: 'tokenizer.ggml.mask_token_id',
  ADD_BOS: 'tokenizer.ggml.add_bos_token',
  ADD_EOS: 'tokenizer.ggml.add_eos_token',
  ADD_SPACE_PREFIX: 'tokenizer.ggml.add_space_prefix',
  REMOVE_EXTRA_WS: 'tokenizer.ggml.remove_extra_whitespaces',
  CHARSMAP: 'tokenizer.ggml.precompiled_charsmap',
  CHAT_TEMPLATE: 'tokenizer.chat_template',
  CHAT_TEMPLATES: 'tokenizer.chat_templates',
  /** This project's: "unigram" for a unigram SentencePiece model (absent: BPE, what llama.cpp runs). */
  SP_MODEL_TYPE: 'pangu.tokenizer.sentencepiece.model_type',
} as const;

/** llama.cpp's marker for a file without vocabulary. */
export const NO_VOCAB = 'no_vocab';

/** Token scores llama.cpp's converter gives padding ids and added tokens. */
const PAD_SCORE = -10000;
const ADDED_SCORE = -1000;

/** convert_hf_to_gguf.py's does_token_look_special. */
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) ||
    (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) ||
    (t.startsWith('<unused') && t.endsWith('>'));
}

export interface TokenizerMetadataOptions {
  /** The model's vocab_size: the number of ids written. Default: the SentencePiece model's. */
  vocabSize?: number;
  /** config.json as parsed (its *_token_id entries give the special ids, as in llama.cpp). */
  config?: Record<string, unknown>;
  /** The eos ids the model stops at (config.json's eos_token_id as a list); default: config.json's. */
  eosTokenIds?: readonly number[];
}

/**
 * The tokenizer keys of a GGUF file for the SentencePiece tokenizer in `dir`
 * (tokenizer.model + tokenizer_config.json), in the order llama.cpp's converter writes them.
 * Returns undefined when the directory has no tokenizer.model.
 *
 * Beyond llama.cpp's converter (which takes the special ids from config.json only):
 * - a special id config.json lacks is taken from tokenizer_config.json's token (bos/eos/unk/sep/pad/mask);
 * - tokenizer.ggml.eot_token_id is the tokenizer's eos (tokenizer_config.json's eos_token) when it
 *   is not config.json's eos: the end of a chat turn, which llama.cpp also ends generation on;
 * - add_space_prefix is the SentencePiece model's add_dummy_prefix, which is what encoding does
 *   (llama.cpp writes tokenizer_config.json's add_prefix_space, the same value for Pangu);
 * - remove_extra_whitespaces, precompiled_charsmap and pangu.tokenizer.sentencepiece.model_type
 *   only for models that need them (not Pangu's: BPE, identity normalization).
 */
export function tokenizerMetadata(dir: string, opts: TokenizerMetadataOptions = {}): GgufMetadata | undefined {
  if (!existsSync(join(dir, 'tokenizer.model'))) return undefined;
  const tok = Tokenizer.load(dir);
  const proto = tok.sp.proto;
  const ts = proto.trainerSpec;
  const ns = proto.normalizerSpec;
  if (ts.treatWhitespaceAsSuffix || !ns.escapeWhitespaces) {
    throw new TokenizerLoadError(`${dir}/tokenizer.model: treat_whitespace_as_suffix / escape_whitespaces=false cannot be written to GGUF`);
  }
  const spCount = proto.pieces.length;
  const n = opts.vocabSize ?? spCount;
  if (spCount > n) {
    throw new TokenizerLoadError(`${dir}/tokenizer.model has ${spCount} pieces, more than the model's vocab_size ${n}`);
  }
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    tokens.push(`[PAD${i}]`);
    scores.push(PAD_SCORE);
    types.push(PieceType.UNUSED);
  }
  proto.pieces.forEach((p, i) => {
    tokens[i] = p.piece;
    scores[i] = p.score;
    // sentencepiece's IsUnknown / IsControl / IsUnused / IsByte, else NORMAL (USER_DEFINED too).
    types[i] = p.type === PieceType.USER_DEFINED ? PieceType.NORMAL : p.type;
  });
  for (const [key, raw] of Object.entries(tok.config.added_tokens_decoder ?? {})) {
    const id = Number(key);
    if (id >= n) continue; // llama.cpp: ignored, out of range
    const content = String(raw.content);
    const special = raw.special === true || looksSpecial(content);
    types[id] = special ? PieceType.CONTROL : PieceType.USER_DEFINED;
    tokens[id] = special ? content : content.replaceAll('\u2581', ' ');
    scores[id] = ADDED_SCORE;
  }

  const m: GgufMetadata = new Map();
  m.set(KEY.MODEL, kv.str('llama'));
  m.set(KEY.PRE, kv.str('default'));
  m.set(KEY.TOKENS, kv.arr(GgufType.STRING, tokens));
  m.set(KEY.SCORES, kv.arr(GgufType.FLOAT32, scores));
  m.set(KEY.TOKEN_TYPE, kv.arr(GgufType.INT32, types));

  const config = opts.config ?? {};
  const inRange = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n;
  const configEos = Array.isArray(config.eos_token_id) ? config.eos_token_id : [config.eos_token_id];
  const eosIds = opts.eosTokenIds ?? configEos.filter(inRange);
  const special = (key: string, configId: unknown, fallback: number | undefined): void => {
    const id = inRange(configId) ? configId : fallback;
    if (inRange(id)) m.set(key, kv.u32(id));
  };
  special(KEY.BOS, config.bos_token_id, tok.bosId);
  special(KEY.EOS, eosIds[0], tok.eosId);
  if (eosIds.length > 1) m.set(KEY.EOS_IDS, kv.arr(GgufType.UINT32, [...eosIds]));
  special(KEY.UNK, config.unk_token_id, tok.unkId);
  special(KEY.SEP, config.sep_token_id, tokenId(tok, tok.config.sep_token));
  special(KEY.PAD, config.pad_token_id, tok.padId);
  special(KEY.MASK, config.mask_token_id, tokenId(tok, tok.config.mask_token));
  const written = m.get(KEY.EOS)?.value;
  if (tok.eosId !== undefined && tok.eosId < n && tok.eosId !== written) m.set(KEY.EOT, kv.u32(tok.eosId));
  if (tok.config.add_bos_token !== undefined) m.set(KEY.ADD_BOS, kv.bool(tok.addBosToken));
  if (tok.config.add_eos_token !== undefined) m.set(KEY.ADD_EOS, kv.bool(tok.addEosToken));
  const ct = tok.config.chat_template;
  if (typeof ct === 'string') {
    m.set(KEY.CHAT_TEMPLATE, kv.str(ct));
  } else if (Array.isArray(ct)) {
    // gguf-py's add_chat_template: named templates as tokenizer.chat_template.NAME, listed in
    // tokenizer.chat_templates; "default" as tokenizer.chat_template.
    const names: string[] = [];
    let dflt: string | undefined;
    for (const t of ct) {
      const name = String(t.name ?? '').replace(/[^A-Za-z0-9]/g, '_');
      if (!name || typeof t.template !== 'string') continue;
      if (name === 'default') dflt = t.template;
      else if (!names.includes(name)) {
        names.push(name);
        m.set(`${KEY.CHAT_TEMPLATE}.${name}`, kv.str(t.template));
      }
    }
    if (names.length > 0) m.set(KEY.CHAT_TEMPLATES, kv.arr(GgufType.STRING, names));
    if (dflt !== undefined) m.set(KEY.CHAT_TEMPLATE, kv.str(dflt));
  }
  m.set(KEY.ADD_SPACE_PREFIX, kv.bool(ns.addDummyPrefix));
  if (ns.removeExtraWhitespaces) m.set(KEY.REMOVE_EXTRA_WS, kv.bool(true));
  if (ns.precompiledCharsmap.length > 0) m.set(KEY.CHARSMAP, kv.arr(GgufType.UINT8, [...ns.precompiledCharsmap]));
  if (ts.modelType === ModelType.UNIGRAM) m.set(KEY.SP_MODEL_TYPE, kv.str('unigram'));
  return m;
}

function tokenId(tok: Tokenizer, v: unknown): number | undefined {
  const content = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { content?: unknown }).content : undefined;
  return typeof content === 'string' ? tok.tokenToId(content) : undefined;
}

/** The keys of a file without vocabulary (llama.cpp's "no_vocab": token-id level use only). */
export function noVocabMetadata(bosTokenId: number, eosTokenIds: readonly number[]): GgufMetadata {
  const m: GgufMetadata = new Map();
  m.set(KEY.MODEL, kv.str(NO_VOCAB));
  m.set(KEY.BOS, kv.u32(bosTokenId));
  m.set(KEY.EOS, kv.u32(eosTokenIds[0] ?? 2));
  if (eosTokenIds.length > 1) m.set(KEY.EOS_IDS, kv.arr(GgufType.UINT32, [...eosTokenIds]));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** True when the file carries a vocabulary pangu-ts can tokenize with. */
export function ggufHasVocab(g: GgufFile): boolean {
  return g.has(KEY.MODEL) && g.metadata.get(KEY.MODEL)!.value !== NO_VOCAB && g.metadata.get(KEY.MODEL)!.value !== 'none';
}

const TYPE_NAMES: Record<number, string> = {
  [GgufType.UINT8]: 'UINT8', [GgufType.INT8]: 'INT8', [GgufType.UINT16]: 'UINT16', [GgufType.INT16]: 'INT16',
  [GgufType.UINT32]: 'UINT32', [GgufType.INT32]: 'INT32', [GgufType.FLOAT32]: 'FLOAT32', [GgufType.BOOL]: 'BOOL',
  [GgufType.STRING]: 'STRING', [GgufType.ARRAY]: 'ARRAY', [GgufType.UINT64]: 'UINT64', [GgufType.INT64]: 'INT64',
  [GgufType.FLOAT64]: 'FLOAT64',
};
const INTEGER_TYPES = new Set<number>([GgufType.UINT8, GgufType.INT8, GgufType.UINT16, GgufType.INT16, GgufType.UINT32,
  GgufType.INT32, GgufType.UINT64, GgufType.INT64]);
const FLOAT_TYPES = new Set<number>([GgufType.FLOAT32, GgufType.FLOAT64]);

/** Builds the tokenizer a GGUF file carries; errors name the file and the key. */
export function tokenizerFromGguf(g: GgufFile): Tokenizer {
  const file = g.file;
  const fail = (message: string): never => {
    throw new TokenizerLoadError(`${file}: ${message}`);
  };
  if (!ggufHasVocab(g)) {
    const what = g.has(KEY.MODEL) ? `${KEY.MODEL} is ${JSON.stringify(g.metadata.get(KEY.MODEL)!.value)}` : `no ${KEY.MODEL} key`;
    fail(`this GGUF file has no vocabulary (${what}), so it cannot turn text into tokens; ` +
      'convert the model from a directory with tokenizer.model, or use token-id commands (generate/logits --tokens, bench)');
  }
  const model = g.metadata.get(KEY.MODEL)!;
  if (model.type !== GgufType.STRING) fail(`key '${KEY.MODEL}' must be a string, got ${TYPE_NAMES[model.type]}`);
  if (model.value !== 'llama') fail(`${KEY.MODEL} "${String(model.value)}" is not supported: pangu-ts reads SentencePiece vocabularies ("llama")`);

  const arrayOf = (key: string, ok: Set<number>, want: string, required: boolean): GgufScalar[] | undefined => {
    const v: GgufValue | undefined = g.metadata.get(key);
    if (!v) return required ? fail(`missing key '${key}'`) : undefined;
    if (v.type !== GgufType.ARRAY) return fail(`key '${key}' must be an array of ${want}, got ${TYPE_NAMES[v.type]}`);
    if (!ok.has(v.itemType)) return fail(`key '${key}' must be an array of ${want}, got an array of ${TYPE_NAMES[v.itemType]}`);
    return v.value;
  };
  const tokens = arrayOf(KEY.TOKENS, new Set([GgufType.STRING]), 'strings', true) as string[];
  const n = tokens.length;
  if (n === 0) fail(`key '${KEY.TOKENS}' is empty`);
  const scores = arrayOf(KEY.SCORES, FLOAT_TYPES, 'floats', false) as number[] | undefined;
  const types = arrayOf(KEY.TOKEN_TYPE, INTEGER_TYPES, 'integers', false) as number[] | undefined;
  if (scores && scores.length !== n) fail(`key '${KEY.SCORES}' has ${scores.length} entries but '${KEY.TOKENS}' has ${n}`);
  if (types && types.length !== n) fail(`key '${KEY.TOKEN_TYPE}' has ${types.length} entries but '${KEY.TOKENS}' has ${n}`);

  const id = (key: string, fallback: number | undefined): number | undefined => {
    if (!g.has(key)) return fallback;
    const v = g.uint(key);
    if (v >= n) fail(`${key} = ${v} is out of range (${n} tokens)`);
    return v;
  };

  const pieces: SentencePieceEntry[] = [];
  const seen = [new Map<string, number>(), new Map<string, number>()];
  let firstUnknown = -1;
  const bytes = new Array<boolean>(256).fill(false);
  for (let i = 0; i < n; i++) {
    const t = types ? Number(types[i]) : PieceType.NORMAL;
    if (!(t >= PieceType.NORMAL && t <= PieceType.BYTE)) fail(`${KEY.TOKEN_TYPE}[${i}] = ${t} is not a token type (1..6)`);
    const piece = tokens[i]!;
    if (piece.length === 0) fail(`token ${i} is empty`);
    const bin = toBinary(piece);
    if (t === PieceType.UNKNOWN && firstUnknown < 0) firstUnknown = i;
    if (t === PieceType.BYTE) {
      const b = pieceToByte(bin);
      if (b < 0) fail(`token ${i} ${JSON.stringify(piece)} has type BYTE but is not <0xXX>`);
      bytes[b] = true;
    }
    pieces.push({ bytes: bin, piece, score: scores ? Math.fround(scores[i] as number) : 0, type: t as PieceTypeValue });
  }
  const unkId = id(KEY.UNK, firstUnknown >= 0 ? firstUnknown : 0)!;
  // The unknown piece of the SentencePiece model (llama.cpp's converter writes <unk> as CONTROL
  // when tokenizer_config.json lists it as a special added token); any other UNKNOWN is an error.
  const addedIds: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = pieces[i]!;
    if (p.type === PieceType.CONTROL || p.type === PieceType.USER_DEFINED) addedIds.push(i);
    if (p.type === PieceType.UNKNOWN && i !== unkId) fail(`token ${i} is a second UNKNOWN token (the unknown token is ${unkId})`);
  }
  pieces[unkId]!.type = PieceType.UNKNOWN;
  for (let i = 0; i < n; i++) {
    const p = pieces[i]!;
    const normal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
    const set = seen[normal ? 0 : 1]!;
    const other = set.get(p.bytes);
    if (other !== undefined) fail(`token ${i} ${JSON.stringify(p.piece)} duplicates token ${other}`);
    set.set(p.bytes, i);
  }
  const nBytes = bytes.filter(Boolean).length;
  if (nBytes > 0 && nBytes < 256) fail(`only ${nBytes} of the 256 byte tokens <0x00>..<0xFF> are present`);

  const charsmapRaw = arrayOf(KEY.CHARSMAP, INTEGER_TYPES, 'bytes', false);
  const charsmap = charsmapRaw ? Uint8Array.from(charsmapRaw as number[]) : new Uint8Array(0);
  if (charsmap.length > 0) {
    try {
      validateCharsmap(charsmap, file, KEY.CHARSMAP);
    } catch (err) {
      fail((err as Error).message.replace(`${file}: `, ''));
    }
  }
  const spType = g.string(KEY.SP_MODEL_TYPE, 'bpe');
  if (spType !== 'bpe' && spType !== 'unigram') fail(`${KEY.SP_MODEL_TYPE} "${spType}" is not bpe or unigram`);
  const bosId = id(KEY.BOS, 1);
  const eosId = id(KEY.EOS, 2);
  const proto: SentencePieceModelProto = {
    pieces,
    trainerSpec: {
      modelType: spType === 'unigram' ? ModelType.UNIGRAM : ModelType.BPE,
      vocabSize: n,
      byteFallback: nBytes === 256,
      treatWhitespaceAsSuffix: false,
      unkId,
      bosId: bosId ?? -1,
      eosId: eosId ?? -1,
      padId: id(KEY.PAD, undefined) ?? -1,
      unkPiece: pieces[unkId]!.piece,
      bosPiece: '<s>',
      eosPiece: '</s>',
      padPiece: '<pad>',
      unkSurface: undefined,
    },
    normalizerSpec: {
      name: charsmap.length > 0 ? 'precompiled' : 'identity',
      precompiledCharsmap: charsmap,
      addDummyPrefix: g.bool(KEY.ADD_SPACE_PREFIX, true),
      removeExtraWhitespaces: g.bool(KEY.REMOVE_EXTRA_WS, false),
      escapeWhitespaces: true,
    },
    denormalizerSpec: undefined,
  };
  const sp = new SentencePiece(proto);

  // The Hugging Face layer: CONTROL and USER_DEFINED tokens are the added tokens (as the
  // converter wrote them from added_tokens_decoder), the special tokens are the tokens at the ids.
  const added: Record<string, Record<string, unknown>> = {};
  for (const i of addedIds) {
    added[String(i)] = { content: tokens[i], special: pieces[i]!.type === PieceType.CONTROL || i === unkId, lstrip: false, rstrip: false, single_word: false, normalized: false };
  }
  const config: TokenizerConfig = { added_tokens_decoder: added };
  const tokenAt = (i: number | undefined): string | undefined => (i === undefined ? undefined : tokens[i]);
  if (bosId !== undefined) config.bos_token = tokenAt(bosId);
  const eos = id(KEY.EOT, eosId);
  if (eos !== undefined) config.eos_token = tokenAt(eos);
  config.unk_token = tokenAt(unkId);
  for (const [attr, key] of [['pad_token', KEY.PAD], ['sep_token', KEY.SEP], ['mask_token', KEY.MASK]] as const) {
    const v = id(key, undefined);
    if (v !== undefined) config[attr] = tokenAt(v);
  }
  if (g.has(KEY.ADD_BOS)) config.add_bos_token = g.bool(KEY.ADD_BOS);
  if (g.has(KEY.ADD_EOS)) config.add_eos_token = g.bool(KEY.ADD_EOS);
  const dflt = g.has(KEY.CHAT_TEMPLATE) ? g.string(KEY.CHAT_TEMPLATE) : undefined;
  const named = g.has(KEY.CHAT_TEMPLATES) ? (arrayOf(KEY.CHAT_TEMPLATES, new Set([GgufType.STRING]), 'strings', true) as string[]) : [];
  if (named.length > 0) {
    const list = dflt !== undefined ? [{ name: 'default', template: dflt }] : [];
    for (const name of named) list.push({ name, template: g.string(`${KEY.CHAT_TEMPLATE}.${name}`) });
    config.chat_template = list;
  } else if (dflt !== undefined) {
    config.chat_template = dflt;
  }
  return new Tokenizer(sp, config, {}, file);
}

/** Reads config.json of a directory as a plain object ({} when absent). */
export function readConfigJson(dir: string): Record<string, unknown> {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}
