// Flags shared by several subcommands, and their validation into library options.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SamplingOptions } from '../engine/sampler.js';

/** A bad command line: printed as a one-line message with exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const SAMPLING_FLAGS = {
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  seed: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function number(flag: string, value: string | undefined, fallback: number, min = -Infinity, max = Infinity): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || x < min || x > max) {
    throw new UsageError(`--${flag} must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return x;
}

export function integer(flag: string, value: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const x = number(flag, value, fallback, min, max);
  if (!Number.isInteger(x)) throw new UsageError(`--${flag} must be an integer, got ${JSON.stringify(value)}`);
  return x;
}

/** "1,5,9" -> [1, 5, 9] */
export function tokenList(value: string | undefined): number[] {
  if (value === undefined) throw new UsageError('--tokens is required, e.g. --tokens 1,5,9');
  const parts = value.split(',').map((s) => s.trim());
  const ids = parts.map(Number);
  if (parts.some((s) => s === '') || ids.some((x) => !Number.isSafeInteger(x) || x < 0)) {
    throw new UsageError(`--tokens must be a comma-separated list of non-negative integers, got ${JSON.stringify(value)}`);
  }
  return ids;
}

/** Sampling flags over `defaults` (e.g. the model's generation_config.json); greedy when neither sets a temperature. */
export function samplingOptions(v: { [K in keyof typeof SAMPLING_FLAGS]?: string | undefined }, defaults: SamplingOptions = {}): SamplingOptions {
  const opts: SamplingOptions = {
    temperature: number('temperature', v.temperature, defaults.temperature ?? 0, 0, 100),
    topK: integer('top-k', v['top-k'], defaults.topK ?? 0),
    topP: number('top-p', v['top-p'], defaults.topP ?? 1, 0, 1),
    minP: number('min-p', v['min-p'], defaults.minP ?? 0, 0, 1),
    repetitionPenalty: number('repeat-penalty', v['repeat-penalty'], defaults.repetitionPenalty ?? 1, 0.01, 100),
  };
  if (v.seed !== undefined) opts.seed = integer('seed', v.seed, 0, 0, 2 ** 32 - 1);
  return opts;
}
