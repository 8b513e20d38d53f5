// Reading config.json: typed fields with errors that name the file, the key and the problem.
import * as fs from 'node:fs';
import * as path from 'node:path';

export class ConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type RawConfig = Record<string, unknown>;

export function readConfigFile(dir: string): { file: string; raw: RawConfig } {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, 'is not a JSON object');
  return { file, raw: raw as RawConfig };
}

/** Typed access to config keys; every getter throws a ConfigError naming the key. */
export class ConfigReader {
  constructor(readonly file: string, readonly raw: RawConfig) {}

  fail(message: string): never {
    throw new ConfigError(this.file, message);
  }

  private get(key: string, fallback: unknown): unknown {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(`missing required key "${key}"`);
      return fallback;
    }
    return v;
  }

  /** A positive integer (or >= min). */
  int(key: string, fallback?: number, min = 1): number {
    const v = this.get(key, fallback);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      this.fail(`"${key}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A finite number > 0. */
  positive(key: string, fallback?: number): number {
    const v = this.get(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A finite number >= 0. */
  nonNegative(key: string, fallback?: number): number {
    const v = this.get(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(`"${key}" must be a number >= 0, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.get(key, fallback);
    if (typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.get(key, fallback);
    if (typeof v !== 'string') this.fail(`"${key}" must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** An integer or a list of integers (eos_token_id may be either). */
  ids(key: string, fallback?: number[]): number[] {
    const v = this.get(key, fallback);
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(`"${key}" must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }

  /** Checks that `a` divides evenly by `b`, naming both keys. */
  divisible(aKey: string, a: number, bKey: string, b: number): void {
    if (a % b !== 0) this.fail(`"${aKey}" (${a}) is not divisible by "${bKey}" (${b})`);
  }
}
