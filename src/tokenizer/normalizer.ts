// SentencePiece's normalizer: the precompiled character map (a darts-clone double-array trie plus
// a table of replacement strings), whitespace escaping to U+2581, the dummy prefix and the removal
// of extra whitespace. Works on binary strings (see utf8.ts) so that positions are byte offsets, as
// in the C++ implementation.

import type { NormalizerSpecInfo } from './sentencepiece-model.js';
import { REPLACEMENT_BIN, SPACE_SYMBOL_BIN, isValidUtf8At, oneCharLen } from './utf8.js';

/**
 * Read-only view of a darts-clone double array (the format sentencepiece stores in
 * precompiled_charsmap). Each unit is a little-endian uint32.
 */
export class DoubleArray {
  private readonly units: Uint32Array;

  constructor(bytes: Uint8Array) {
    const n = Math.floor(bytes.length / 4);
    this.units = new Uint32Array(n);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, n * 4);
    for (let i = 0; i < n; i++) this.units[i] = dv.getUint32(i * 4, true);
  }

  get size(): number {
    return this.units.length;
  }

  private unit(i: number): number {
    // Out-of-range reads (only possible with a corrupt blob) behave as a unit that matches nothing.
    return i < this.units.length ? this.units[i]! : 0x80000000;
  }

  private static offset(u: number): number {
    return (u >>> 10) << ((u & (1 << 9)) >>> 6);
  }

  private static label(u: number): number {
    return (u & 0x800000ff) >>> 0;
  }

  private static hasLeaf(u: number): boolean {
    return ((u >>> 8) & 1) === 1;
  }

  private static value(u: number): number {
    return u & 0x7fffffff;
  }

  /**
   * All keys that are prefixes of key[pos..end): calls `onMatch(value, length)` for each, shortest
   * first (darts-clone's commonPrefixSearch).
   */
  commonPrefixSearch(key: string, pos: number, end: number, onMatch: (value: number, length: number) => void): void {
    let nodePos = 0;
    let unit = this.unit(nodePos);
    nodePos ^= DoubleArray.offset(unit);
    for (let i = pos; i < end; i++) {
      const c = key.charCodeAt(i);
      nodePos ^= c;
      unit = this.unit(nodePos);
      if (DoubleArray.label(unit) !== c) return;
      nodePos ^= DoubleArray.offset(unit);
      if (DoubleArray.hasLeaf(unit)) onMatch(DoubleArray.value(this.unit(nodePos)), i - pos + 1);
    }
  }
}

interface MatchNode {
  next: Map<number, MatchNode>;
  end: boolean;
}

/** Longest-match lookup of user-defined symbols (sentencepiece's PrefixMatcher). */
export class PrefixMatcher {
  private readonly root: MatchNode = { next: new Map(), end: false };
  private readonly count: number;

  /** `symbols` are binary strings. */
  constructor(symbols: Iterable<string>) {
    let count = 0;
    for (const sym of symbols) {
      if (sym.length === 0) continue;
      let node = this.root;
      for (let i = 0; i < sym.length; i++) {
        const c = sym.charCodeAt(i);
        let nxt = node.next.get(c);
        if (!nxt) {
          nxt = { next: new Map(), end: false };
          node.next.set(c, nxt);
        }
        node = nxt;
      }
      node.end = true;
      count++;
    }
    this.count = count;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  /** Returns [length, found]: the longest symbol at `pos`, or one character when none matches. */
  prefixMatch(s: string, pos: number): [number, boolean] {
    let node: MatchNode | undefined = this.root;
    let best = 0;
    for (let i = pos; i < s.length; i++) {
      node = node.next.get(s.charCodeAt(i));
      if (!node) break;
      if (node.end) best = i - pos + 1;
    }
    if (best > 0) return [best, true];
    return [Math.min(s.length - pos, oneCharLen(s.charCodeAt(pos))), false];
  }
}

export class Normalizer {
  private readonly trie: DoubleArray | undefined;
  private readonly table: string = '';
  private matcher: PrefixMatcher | undefined;

  constructor(
    private readonly spec: NormalizerSpecInfo,
    private readonly treatWhitespaceAsSuffix = false,
  ) {
    const blob = spec.precompiledCharsmap;
    if (blob.length > 0) {
      const trieSize = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
      this.trie = new DoubleArray(blob.subarray(4, 4 + trieSize));
      this.table = Buffer.from(blob.buffer, blob.byteOffset + 4 + trieSize, blob.length - 4 - trieSize).toString('latin1');
    }
  }

  /** User-defined symbols pass through the normalizer untouched. */
  setPrefixMatcher(matcher: PrefixMatcher | undefined): void {
    this.matcher = matcher && !matcher.empty ? matcher : undefined;
  }

  /** Normalizes one prefix of `input` at `pos`: returns [replacement, bytes consumed]. */
  normalizePrefix(input: string, pos: number): [string, number] {
    if (this.matcher) {
      const [len, found] = this.matcher.prefixMatch(input, pos);
      if (found) return [input.substr(pos, len), len];
    }
    let longestLength = 0;
    let longestValue = 0;
    if (this.trie) {
      this.trie.commonPrefixSearch(input, pos, input.length, (value, length) => {
        if (longestLength === 0 || length > longestLength) {
          longestLength = length;
          longestValue = value;
        }
      });
    }
    if (longestLength === 0) {
      const [ok, n] = isValidUtf8At(input, pos);
      if (!ok) return [REPLACEMENT_BIN, 1];
      return [input.substr(pos, n), n];
    }
    // The replacement is NUL-terminated inside the table.
    let end = this.table.indexOf('\0', longestValue);
    if (end < 0) end = this.table.length;
    return [longestValue < this.table.length ? this.table.slice(longestValue, end) : '', longestLength];
  }

  /** Normalizes a binary string (UTF-8 bytes). */
  normalize(input: string): string {
    const n = input.length;
    if (n === 0) return '';
    const removeExtra = this.spec.removeExtraWhitespaces;
    const escape = this.spec.escapeWhitespaces;
    let pos = 0;
    if (removeExtra) {
      while (pos < n) {
        const [rep, len] = this.normalizePrefix(input, pos);
        if (rep !== ' ') break;
        pos += len;
      }
    }
    if (pos >= n) return '';

    const ws = escape ? SPACE_SYMBOL_BIN : ' ';
    const parts: string[] = [];
    if (!this.treatWhitespaceAsSuffix && this.spec.addDummyPrefix) parts.push(ws);

    let isPrevSpace = removeExtra;
    while (pos < n) {
      const [rep, len] = this.normalizePrefix(input, pos);
      let sp = rep;
      if (isPrevSpace) {
        let k = 0;
        while (k < sp.length && sp.charCodeAt(k) === 0x20) k++;
        sp = sp.slice(k);
      }
      if (sp.length > 0) {
        parts.push(escape ? sp.replaceAll(' ', SPACE_SYMBOL_BIN) : sp);
        isPrevSpace = sp.charCodeAt(sp.length - 1) === 0x20;
      }
      pos += len;
      if (!removeExtra) isPrevSpace = false;
    }

    let out = parts.join('');
    if (removeExtra) {
      while (out.endsWith(ws)) out = out.slice(0, out.length - ws.length);
    }
    if (this.treatWhitespaceAsSuffix && this.spec.addDummyPrefix) out += ws;
    return out;
  }
}
