// Shared test utilities: temporary directories, repository paths, running the CLI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Transformer } from '../src/models/transformer.js';

/** The repository root (tests run from dist/test/...). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');

const tempDirs: string[] = [];

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix = 'pangu-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (tempDirs.length === 0) process.on('exit', () => { for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true }); });
  tempDirs.push(dir);
  return dir;
}

export function runCli(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'pangu.js'), ...args], {
    encoding: 'utf8', input, maxBuffer: 1 << 30, env,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The logits of a prompt (tokens [0, prompt)), one step of `step` tokens, then one token at a time:
 * the three paths a backend takes (a prompt's tiles, a small batch, the matvec), in a fresh cache.
 */
export function forwardSteps(model: Transformer, tokens: readonly number[], prompt: number, step: number, cacheSize: number): Float32Array[] {
  const cache = model.newCache(cacheSize);
  const out = [model.forward(tokens.slice(0, prompt), cache, 'all'), model.forward(tokens.slice(prompt, prompt + step), cache, 'all')];
  for (const t of tokens.slice(prompt + step)) out.push(model.forward([t], cache, 'last'));
  return out;
}
