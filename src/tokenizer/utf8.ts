// UTF-8 helpers that behave like sentencepiece's own (util.cc), over "binary strings": JavaScript
// strings holding one byte per char (codes 0..255), which is how the tokenizer handles bytes so that
// they can key a Map and be sliced cheaply.

/** U+FFFD as UTF-8 bytes in a binary string. */
export const REPLACEMENT_BIN = '\xEF\xBF\xBD';
/** U+2581 (LOWER ONE EIGHTH BLOCK), the whitespace mark, as UTF-8 bytes in a binary string. */
export const SPACE_SYMBOL_BIN = '\xE2\x96\x81';

export function toBinary(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

export function fromBinary(bin: string): string {
  return Buffer.from(bin, 'latin1').toString('utf8');
}

/** Length of one character judged by its lead byte alone (string_util::OneCharLen). */
export function oneCharLen(lead: number): number {
  if (lead < 0xc0) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

function isTrail(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

function isValidCodepoint(c: number): boolean {
  return c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);
}

/**
 * Decodes one character at `pos` of the binary string `s` (up to `end`), as DecodeUTF8 does.
 * Returns [codepoint, length]; an invalid sequence gives [0xFFFD, 1].
 */
export function decodeUtf8At(s: string, pos: number, end = s.length): [number, number] {
  const len = end - pos;
  const b0 = s.charCodeAt(pos);
  if (b0 < 0x80) return [b0, 1];
  if (len >= 2 && (b0 & 0xe0) === 0xc0) {
    const b1 = s.charCodeAt(pos + 1);
    const cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
    if (isTrail(b1) && cp >= 0x80 && isValidCodepoint(cp)) return [cp, 2];
  } else if (len >= 3 && (b0 & 0xf0) === 0xe0) {
    const b1 = s.charCodeAt(pos + 1);
    const b2 = s.charCodeAt(pos + 2);
    const cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && cp >= 0x800 && isValidCodepoint(cp)) return [cp, 3];
  } else if (len >= 4 && (b0 & 0xf8) === 0xf0) {
    const b1 = s.charCodeAt(pos + 1);
    const b2 = s.charCodeAt(pos + 2);
    const b3 = s.charCodeAt(pos + 3);
    const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    if (isTrail(b1) && isTrail(b2) && isTrail(b3) && cp >= 0x10000 && isValidCodepoint(cp)) return [cp, 4];
  }
  return [0xfffd, 1];
}

/**
 * IsValidDecodeUTF8: true for a well-formed character, including a literal U+FFFD (which is
 * indistinguishable from the error value but three bytes long).
 */
export function isValidUtf8At(s: string, pos: number, end = s.length): [boolean, number] {
  const [cp, n] = decodeUtf8At(s, pos, end);
  return [cp !== 0xfffd || n === 3, n];
}

/**
 * How many bytes the decoder must see at `pos` before its verdict cannot change: the length that
 * the lead byte announces (1 for ASCII and for bytes that can never start a character).
 */
export function bytesNeeded(lead: number): number {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) === 0xc0) return 2;
  if ((lead & 0xf0) === 0xe0) return 3;
  if ((lead & 0xf8) === 0xf0) return 4;
  return 1;
}

/**
 * Turns a run of bytes (binary string) into text as sentencepiece's decoder does for byte pieces:
 * each well-formed character is kept, each byte of a malformed sequence becomes U+FFFD.
 * Returns a binary string of valid UTF-8.
 */
export function bytesToSurface(bytes: string): string {
  let out = '';
  let off = 0;
  while (off < bytes.length) {
    const [ok, n] = isValidUtf8At(bytes, off);
    out += ok ? bytes.slice(off, off + n) : REPLACEMENT_BIN;
    off += n;
  }
  return out;
}
