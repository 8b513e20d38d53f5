// Shared fixtures for the tokenizer tests (not a test file itself).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/tokenizer/, from dist/test/tokenizer/ where the compiled tests run. */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/tokenizer/', import.meta.url));
export const MODELS = ['bpe', 'unigram'] as const;
export type ModelName = (typeof MODELS)[number];

export interface Case {
  text: string;
  sp_ids: number[];
  sp_pieces: string[];
  sp_decode: string;
  sp_roundtrip: boolean;
  hf_ids: number[];
  hf_ids_no_special: number[];
  hf_decode: string;
  hf_decode_skip: string;
}

export interface DecodeCase {
  ids: number[];
  sp_decode: string;
  hf_decode: string;
  hf_decode_skip: string;
}

export interface ChatCase {
  messages: Array<{ role: string; content: string }>;
  add_generation_prompt: boolean;
  rendered: string;
  hf_ids: number[];
  hf_ids_no_special: number[];
}

export interface Expected {
  cases: Case[];
  decodes: DecodeCase[];
  chat: ChatCase[];
  model: { pieces: number; bos_id: number; eos_id: number; unk_id: number; eos_token_id: number };
}

export function modelDir(name: ModelName): string {
  return FIXTURES + name;
}

export function expected(name: ModelName): Expected {
  return JSON.parse(readFileSync(`${FIXTURES}${name}/expected.json`, 'utf8')) as Expected;
}

/** Short printable label for a test string. */
export function label(s: string): string {
  const j = JSON.stringify(s);
  return j.length > 50 ? j.slice(0, 47) + '..."' : j;
}
