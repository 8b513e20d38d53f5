// The Pangu tokenizer as Hugging Face's slow tokenizer (PanguTokenizer, a PreTrainedTokenizer over
// a SentencePiece model) behaves:
// - encode: split the text on the added tokens (HF's Trie.split, leftmost match extended to its
//   longest), honour their lstrip/rstrip/single_word flags, encode every other piece on its own
//   with SentencePiece, map pieces to ids (added tokens first), prepend <s> when add_bos_token;
// - decode: ids → tokens (added tokens by content, others by piece), skip bos/eos/unk/pad (and
//   additional special tokens) when asked, write added and special tokens verbatim and decode every
//   run of other pieces with SentencePiece on its own, joined without spaces;
// - chat: the Jinja chat_template of tokenizer_config.json, rendered with @huggingface/jinja.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { PieceDecoder, SentencePiece } from './sentencepiece.js';
import { fromBinary, toBinary } from './utf8.js';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface EncodeOptions {
  /** Add <s> (when add_bos_token) and </s>-style eos (when add_eos_token). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /**
   * Drop the special tokens as the slow HF tokenizer does: bos, eos, unk, pad and any
   * additional_special_tokens. Added tokens such as [unused16] are not among them. Default false.
   */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** Name of the template when chat_template is a list of named templates. */
  templateName?: string;
  /** Extra variables for the template (e.g. tools). */
  extra?: Record<string, unknown>;
}

export interface TokenizerConfig {
  added_tokens_decoder?: Record<string, Record<string, unknown>>;
  add_bos_token?: boolean | string;
  add_eos_token?: boolean | string;
  bos_token?: unknown;
  eos_token?: unknown;
  unk_token?: unknown;
  pad_token?: unknown;
  cls_token?: unknown;
  sep_token?: unknown;
  mask_token?: unknown;
  additional_special_tokens?: unknown[];
  chat_template?: string | Array<{ name: string; template: string }>;
  [key: string]: unknown;
}

/** A problem with the tokenizer directory or its config files. */
export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

/** The chat template could not be parsed or rendered. */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

/** Decodes a stream of ids; see Tokenizer.createStreamDecoder. */
export interface StreamDecoder {
  /** Feeds one id; returns the text that is now final (possibly ''). */
  push(id: number): string;
  /** Ends the stream; returns any text still held back. */
  flush(): string;
}

const SPECIAL_ATTRIBUTES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function toBool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string') {
    if (v.toLowerCase() === 'true') return true;
    if (v.toLowerCase() === 'false') return false;
  }
  return Boolean(v);
}

/** Python's str.isspace() characters, for the lstrip/rstrip of added tokens. */
const PY_WS = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const LEADING_WS = new RegExp(`^${PY_WS}+`, 'u');
const TRAILING_WS = new RegExp(`${PY_WS}+$`, 'u');

interface TrieNode {
  next: Map<string, TrieNode>;
  end: boolean;
}

/** Splits text on added tokens the way transformers' Trie.split does. */
class AddedTokenTrie {
  private readonly root: TrieNode = { next: new Map(), end: false };

  add(word: string): void {
    if (word.length === 0) return;
    let node = this.root;
    for (const ch of word) {
      let nxt = node.next.get(ch);
      if (!nxt) {
        nxt = { next: new Map(), end: false };
        node.next.set(ch, nxt);
      }
      node = nxt;
    }
    node.end = true;
  }

  split(text: string): string[] {
    const chars = Array.from(text); // Python indexes code points
    const n = chars.length;
    // Partial matches by start index, in insertion (= start) order.
    let states = new Map<number, TrieNode>();
    const offsets: number[] = [0];
    let skip = 0;
    for (let current = 0; current < n; current++) {
      if (skip && current < skip) continue;
      const ch = chars[current]!;
      const toRemove: number[] = [];
      let reset = false;
      for (const [start0, node0] of states) {
        let start = start0;
        if (node0.end) {
          // A match ended before `current`. Look ahead from every state that began no later, so
          // that the match found is extended to its longest; the last state examined wins.
          let end = current;
          for (const [lookstart, lookNode0] of states) {
            if (lookstart > start0) break;
            let lookNode = lookNode0;
            let lookaheadIndex: number;
            if (lookstart < start0) {
              lookaheadIndex = current + 1;
              end = current + 1;
            } else {
              lookaheadIndex = current;
              end = current;
            }
            let nextChar = lookaheadIndex < n ? chars[lookaheadIndex] : undefined;
            if (lookNode.end) {
              start = lookstart;
              end = lookaheadIndex;
              skip = lookaheadIndex;
            }
            while (nextChar !== undefined && lookNode.next.has(nextChar)) {
              lookNode = lookNode.next.get(nextChar)!;
              lookaheadIndex += 1;
              if (lookNode.end) {
                start = lookstart;
                end = lookaheadIndex;
                skip = lookaheadIndex;
              }
              if (lookaheadIndex === n) break;
              nextChar = chars[lookaheadIndex];
            }
          }
          offsets.push(start, end);
          reset = true;
          break;
        } else if (node0.next.has(ch)) {
          states.set(start0, node0.next.get(ch)!);
        } else {
          toRemove.push(start0);
        }
      }
      if (reset) {
        states = new Map();
      } else {
        for (const s of toRemove) states.delete(s);
      }
      if (current >= skip && this.root.next.has(ch)) {
        states.set(current, this.root.next.get(ch)!);
      }
    }
    for (const [start, node] of states) {
      if (node.end) {
        offsets.push(start, n);
        break;
      }
    }
    offsets.push(n);
    const out: string[] = [];
    let start = 0;
    for (const end of offsets) {
      if (start >= end) continue;
      out.push(chars.slice(start, end).join(''));
      start = end;
    }
    return out;
  }
}

export class Tokenizer {
  readonly sp: SentencePiece;
  readonly config: TokenizerConfig;
  readonly addBosToken: boolean;
  readonly addEosToken: boolean;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly unkToken: string | undefined;
  readonly padToken: string | undefined;
  /** Added tokens by id (tokenizer_config.json's added_tokens_decoder, plus special tokens). */
  readonly addedTokens: ReadonlyMap<number, AddedToken>;
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly allSpecialTokens: Set<string>;
  private readonly allSpecialIds: Set<number>;
  /** Added tokens written verbatim at decode time that are not special tokens. */
  private readonly legacyAdded: Set<string>;
  private readonly trie = new AddedTokenTrie();
  private readonly verbatim = new Map<number, string>();
  /** Added token contents as binary strings → id, to map SentencePiece's pieces as HF does. */
  private readonly addedByBin = new Map<string, number>();
  private readonly chatTemplates: Map<string, string>;
  private readonly templateCache = new Map<string, Template>();
  /** Where the files came from, for messages. */
  readonly source: string;

  constructor(sp: SentencePiece, config: TokenizerConfig, specialTokensMap: Record<string, unknown> = {}, source = '(memory)') {
    this.sp = sp;
    this.config = config;
    this.source = source;
    this.addBosToken = toBool(config.add_bos_token, true);
    this.addEosToken = toBool(config.add_eos_token, false);

    // Special-token attributes: tokenizer_config.json, overridden by special_tokens_map.json.
    const attr = (key: string): string | undefined => tokenContent(specialTokensMap[key]) ?? tokenContent(config[key]);
    const specials = new Map<string, string>();
    for (const key of SPECIAL_ATTRIBUTES) {
      const v = attr(key);
      if (v !== undefined) specials.set(key, v);
    }
    const additionalRaw = (specialTokensMap.additional_special_tokens ?? config.additional_special_tokens ?? []) as unknown[];
    const additional = Array.isArray(additionalRaw) ? additionalRaw.map(tokenContent).filter((x): x is string => x !== undefined) : [];
    this.bosToken = specials.get('bos_token');
    this.eosToken = specials.get('eos_token');
    this.unkToken = specials.get('unk_token');
    this.padToken = specials.get('pad_token');

    const added = new Map<number, AddedToken>();
    for (const [key, raw] of Object.entries(config.added_tokens_decoder ?? {})) {
      const id = Number(key);
      const content = tokenContent(raw);
      if (!Number.isInteger(id) || id < 0 || content === undefined) {
        throw new TokenizerLoadError(`${source}: added_tokens_decoder entry ${JSON.stringify(key)} is malformed`);
      }
      added.set(id, {
        id,
        content,
        special: toBool(raw.special, false),
        lstrip: toBool(raw.lstrip, false),
        rstrip: toBool(raw.rstrip, false),
        singleWord: toBool(raw.single_word, false),
        normalized: toBool(raw.normalized, false),
      });
    }
    for (const t of added.values()) this.addedByContent.set(t.content, t);
    // Special tokens that are not yet added tokens are added, reusing their vocabulary id when the
    // SentencePiece model has the piece, otherwise after the end of the vocabulary.
    let nextId = Math.max(sp.pieceCount, ...[...added.keys()].map((k) => k + 1));
    for (const content of [...specials.values(), ...additional]) {
      if (this.addedByContent.has(content)) continue;
      const spId = sp.pieceToId(content);
      const inVocab = spId !== sp.unkId || content === sp.idToPiece(sp.unkId);
      const id = inVocab ? spId : nextId++;
      const t: AddedToken = { id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false };
      added.set(id, t);
      this.addedByContent.set(content, t);
    }
    this.addedTokens = added;
    for (const t of added.values()) this.addedByBin.set(toBinary(t.content), t.id);
    for (const t of added.values()) this.trie.add(t.content);

    this.allSpecialTokens = new Set([...specials.values(), ...additional]);
    this.allSpecialIds = new Set([...this.allSpecialTokens].map((t) => this.addedByContent.get(t)!.id));
    this.legacyAdded = new Set([...this.addedByContent.keys()].filter((c) => !this.allSpecialTokens.has(c)));
    for (const c of additional) {
      const t = this.addedByContent.get(c)!;
      if (t.id >= sp.pieceCount) this.legacyAdded.add(c);
    }

    // Ids written verbatim by decode: added tokens, and pieces whose text is a special or added
    // token (HF compares token strings).
    for (const t of added.values()) this.verbatim.set(t.id, toBinary(t.content));
    for (const content of [...this.allSpecialTokens, ...this.legacyAdded]) {
      const spId = sp.pieceToId(content);
      if (!this.verbatim.has(spId) && sp.idToPiece(spId) === content) this.verbatim.set(spId, toBinary(content));
    }

    this.chatTemplates = new Map();
    const ct = config.chat_template;
    if (typeof ct === 'string') this.chatTemplates.set('default', ct);
    else if (Array.isArray(ct)) for (const t of ct) if (t && typeof t.name === 'string' && typeof t.template === 'string') this.chatTemplates.set(t.name, t.template);
  }

  /**
   * Loads `tokenizer.model` and `tokenizer_config.json` (and `special_tokens_map.json` when
   * present) from a directory.
   */
  static load(dir: string): Tokenizer {
    const modelPath = join(dir, 'tokenizer.model');
    const configPath = join(dir, 'tokenizer_config.json');
    if (!existsSync(modelPath)) throw new TokenizerLoadError(`${modelPath}: not found (expected a SentencePiece tokenizer.model in ${dir})`);
    const sp = SentencePiece.load(modelPath);
    let config: TokenizerConfig = {};
    if (existsSync(configPath)) config = readJson(configPath) as TokenizerConfig;
    else throw new TokenizerLoadError(`${configPath}: not found`);
    const mapPath = join(dir, 'special_tokens_map.json');
    const map = existsSync(mapPath) ? (readJson(mapPath) as Record<string, unknown>) : {};
    return new Tokenizer(sp, config, map, dir);
  }

  /** Number of SentencePiece pieces (the model's vocab_size). */
  get vocabSize(): number {
    return this.sp.pieceCount;
  }

  /** Vocabulary size including added tokens past the end of the SentencePiece vocabulary. */
  get size(): number {
    return Math.max(this.sp.pieceCount, ...[...this.addedTokens.keys()].map((k) => k + 1));
  }

  private idOf(token: string | undefined): number | undefined {
    if (token === undefined) return undefined;
    return this.addedByContent.get(token)?.id ?? this.sp.pieceToId(token);
  }

  get bosId(): number | undefined {
    return this.idOf(this.bosToken);
  }

  /** The eos of the config (for Pangu, [unused10]: the end of a chat turn). */
  get eosId(): number | undefined {
    return this.idOf(this.eosToken);
  }

  get unkId(): number | undefined {
    return this.idOf(this.unkToken);
  }

  get padId(): number | undefined {
    return this.idOf(this.padToken);
  }

  /** Id of a token string: an added token, else a SentencePiece piece; undefined if neither. */
  tokenToId(token: string): number | undefined {
    const a = this.addedByContent.get(token);
    if (a) return a.id;
    const id = this.sp.pieceToId(token);
    if (id === this.sp.unkId && token !== this.sp.idToPiece(id)) return undefined;
    return id;
  }

  /** The token string of an id (added token content or SentencePiece piece). */
  idToToken(id: number): string {
    const a = this.addedTokens.get(id);
    if (a) return a.content;
    this.checkId(id);
    return this.sp.idToPiece(id);
  }

  /** True for ids that decode({skipSpecialTokens: true}) drops. */
  isSpecialId(id: number): boolean {
    return this.allSpecialIds.has(id);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || (id >= this.sp.pieceCount && !this.addedTokens.has(id))) {
      throw new RangeError(`token id ${id} is out of range (vocabulary of ${this.size} ids in ${this.source})`);
    }
  }

  /** The text split into added tokens and the pieces between them (HF's tokenize, before SentencePiece). */
  splitOnAddedTokens(text: string): Array<{ text: string; added: boolean }> {
    const parts = this.addedByContent.size > 0 ? this.trie.split(text) : text.length > 0 ? [text] : [];
    for (let i = 0; i < parts.length; i++) {
      const tok = this.addedByContent.get(parts[i]!);
      if (!tok) continue;
      const left = i > 0 ? parts[i - 1] : undefined;
      const right = i < parts.length - 1 ? parts[i + 1] : undefined;
      if (tok.rstrip && right) parts[i + 1] = right.replace(LEADING_WS, '');
      if (tok.lstrip && left) parts[i - 1] = left.replace(TRAILING_WS, '');
      if (tok.singleWord && left && left[left.length - 1] !== ' ') {
        parts[i - 1] += parts[i]!;
        parts[i] = '';
      } else if (tok.singleWord && right && right[0] !== ' ') {
        parts[i] += right;
        parts[i + 1] = '';
      }
    }
    const out: Array<{ text: string; added: boolean }> = [];
    for (const p of parts) {
      if (p.length === 0) continue;
      out.push({ text: p, added: this.addedByContent.has(p) });
    }
    return out;
  }

  /** Tokens (strings) as HF's tokenize() returns them. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const part of this.splitOnAddedTokens(text)) {
      if (part.added) out.push(part.text);
      else out.push(...this.sp.encodeAsPieces(part.text));
    }
    return out;
  }

  /** Encodes text to ids like the slow HF tokenizer's encode(). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecialTokens ?? true;
    const ids: number[] = [];
    if (addSpecial && this.addBosToken) {
      const bos = this.bosId;
      if (bos !== undefined) ids.push(bos);
    }
    for (const part of this.splitOnAddedTokens(text)) {
      if (part.added) {
        ids.push(this.addedByContent.get(part.text)!.id);
        continue;
      }
      // HF maps each piece string to an id: added tokens first, then PieceToId.
      for (const [bin] of this.sp.encodeWithPieces(part.text)) {
        ids.push(this.addedByBin.get(bin) ?? this.sp.pieceToIdBin(bin));
      }
    }
    if (addSpecial && this.addEosToken) {
      const eos = this.eosId;
      if (eos !== undefined) ids.push(eos);
    }
    return ids;
  }

  /** Decodes ids like the slow HF tokenizer's decode(). Throws RangeError for unknown ids. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    for (const id of ids) this.checkId(id);
    const d = new BinaryStreamDecoder(this, options.skipSpecialTokens ?? false);
    let out = '';
    for (const id of ids) out += d.push(id);
    return fromBinary(out + d.flush());
  }

  /**
   * An incremental decoder: push(id) returns the text that became final with that id. It never
   * returns part of a character or of a byte sequence still being resolved; the concatenation of
   * all returned strings and flush() equals decode() of all the ids pushed.
   */
  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    const d = new BinaryStreamDecoder(this, options.skipSpecialTokens ?? false);
    return {
      push: (id: number): string => {
        this.checkId(id);
        return fromBinary(d.push(id));
      },
      flush: (): string => fromBinary(d.flush()),
    };
  }

  /** @internal For the decoder: the verbatim text (binary) of an id that is written as-is, if it is one. */
  verbatimBin(id: number): string | undefined {
    return this.verbatim.get(id);
  }

  /** @internal */
  skipsId(id: number): boolean {
    return this.allSpecialIds.has(id);
  }

  /** Names of the chat templates (usually just "default"). */
  get chatTemplateNames(): string[] {
    return [...this.chatTemplates.keys()];
  }

  /** Renders the chat template, as HF's apply_chat_template(..., tokenize=False). */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const name = options.templateName ?? 'default';
    const source = this.chatTemplates.get(name);
    if (source === undefined) {
      throw new ChatTemplateError(
        this.chatTemplates.size === 0
          ? `${this.source}: tokenizer_config.json has no chat_template`
          : `${this.source}: no chat template named ${JSON.stringify(name)} (have ${this.chatTemplateNames.join(', ')})`,
      );
    }
    let template = this.templateCache.get(name);
    if (!template) {
      try {
        template = new Template(source);
      } catch (err) {
        throw new ChatTemplateError(`${this.source}: the chat template "${name}" cannot be parsed: ${(err as Error).message}`);
      }
      this.templateCache.set(name, template);
    }
    const vars: Record<string, unknown> = {
      ...(options.extra ?? {}),
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      unk_token: this.unkToken ?? '',
      pad_token: this.padToken ?? '',
    };
    try {
      return template.render(vars);
    } catch (err) {
      throw new ChatTemplateError(`${this.source}: the chat template "${name}" failed to render: ${(err as Error).message}`);
    }
  }

  /**
   * Renders the chat template and encodes it. By default <s> is prepended (add_bos_token), as in
   * openPangu's own example (`tokenizer([text])`); HF's apply_chat_template(tokenize=True) would
   * pass addSpecialTokens: false.
   */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions & EncodeOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: options.addSpecialTokens ?? true });
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenizerLoadError(`${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TokenizerLoadError(`${path}: invalid JSON: ${(err as Error).message}`);
  }
}

/**
 * The decode state shared by decode() and the stream decoder, producing binary strings (UTF-8
 * bytes, whole characters only): added and special tokens verbatim, the runs of pieces between
 * them through SentencePiece's decoder, each run on its own.
 */
class BinaryStreamDecoder {
  private pieces: PieceDecoder | undefined;
  private held = '';
  private readonly sp: SentencePiece;
  private readonly denorm: boolean;

  constructor(
    private readonly tok: Tokenizer,
    private readonly skip: boolean,
  ) {
    this.sp = tok.sp;
    this.denorm = tok.sp.hasDenormalizer;
  }

  private endRun(): string {
    if (!this.pieces) return '';
    let bin = this.pieces.flush();
    this.pieces = undefined;
    if (this.denorm) {
      bin = this.sp.denormalize(this.held + bin);
      this.held = '';
    }
    return bin;
  }

  push(id: number): string {
    if (this.skip && this.tok.skipsId(id)) return '';
    const verbatim = this.tok.verbatimBin(id);
    if (verbatim !== undefined) return this.endRun() + verbatim;
    if (!this.pieces) this.pieces = this.sp.newPieceDecoder();
    const bin = this.pieces.push(this.sp.canonicalId(id));
    if (this.denorm) {
      this.held += bin;
      return '';
    }
    return bin;
  }

  flush(): string {
    return this.endRun();
  }
}
