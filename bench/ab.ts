// In-process A/B: one model loaded twice in one process, on two CPU backends that differ in their
// options (or in their build), runs alternated round by round. Both sides see the same machine load
// at nearly the same moment, so the median of the per-round ratios holds still where separate runs
// on a shared machine move by ±10%.
//
//   node dist/bench/ab.js --model FILE.gguf [--a '{"chunkBytes":0}'] [--b '{}'] [--a-build DIR]
//     [--rounds 8] [-p 128] [-n 64] [--threads 2] [--b-first]
//
// --a / --b: CpuBackendOptions as JSON. --a-build DIR: side A from another build's dist/ directory
// (e.g. a git worktree of an older commit, built), to compare code rather than options.
// --b-first: load side B before side A. The order of loading can bias the result by several
// percent (on the 2.2 GB bench model an A/A run gave 0.96x generation and 1.08x prompt), so run
// both orders and read the two ratios together.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CpuBackend, CpuBackendOptions } from '../src/backend/cpu/backend.js';
import type { Transformer } from '../src/models/transformer.js';
import { argmax } from '../src/engine/sampler.js';

interface Build {
  CpuBackend: typeof CpuBackend;
  loadModel: (dir: string, opts: { backend: CpuBackend }) => Transformer;
}

async function importBuild(dist: string | undefined): Promise<Build> {
  const root = dist ? path.resolve(dist) : path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const backend = (await import(pathToFileURL(path.join(root, 'src/backend/cpu/backend.js')).href)) as { CpuBackend: Build['CpuBackend'] };
  const load = (await import(pathToFileURL(path.join(root, 'src/models/load.js')).href)) as { loadModel: Build['loadModel'] };
  return { CpuBackend: backend.CpuBackend, loadModel: load.loadModel };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' }, a: { type: 'string' }, b: { type: 'string' }, 'a-build': { type: 'string' },
      rounds: { type: 'string' }, prompt: { type: 'string', short: 'p' }, gen: { type: 'string', short: 'n' }, threads: { type: 'string' },
      'b-first': { type: 'boolean' },
    },
  });
  if (!values.model) throw new Error('--model is required');
  const rounds = Number(values.rounds ?? 8), p = Number(values.prompt ?? 128), n = Number(values.gen ?? 64), threads = Number(values.threads ?? 2);
  const sides = [
    { build: await importBuild(values['a-build']), opts: JSON.parse(values.a ?? '{}') as CpuBackendOptions },
    { build: await importBuild(undefined), opts: JSON.parse(values.b ?? '{}') as CpuBackendOptions },
  ];
  const models: Transformer[] = [];
  for (const k of values['b-first'] ? [1, 0] : [0, 1]) {
    const { build, opts } = sides[k]!;
    models[k] = build.loadModel(values.model, { backend: await build.CpuBackend.create({ threads, ...opts }) });
  }
  const prompt = Array.from({ length: p }, (_, i) => (i * 7919 + 13) % models[0]!.args.vocab_size);
  const caches = models.map((m) => m.newCache(p + n + 1));
  const gen: number[][] = [[], []], pp: number[][] = [[], []];
  for (let r = 0; r <= rounds; r++) { // round 0 warms up
    models.forEach((m, k) => {
      const cache = caches[k]!;
      cache.truncate(0);
      const t0 = performance.now();
      let logits = m.forward(prompt, cache, 'last');
      const t1 = performance.now();
      for (let i = 0; i < n; i++) logits = m.forward([argmax(logits)], cache, 'last');
      const t2 = performance.now();
      if (r > 0) { pp[k]!.push(p / ((t1 - t0) / 1000)); gen[k]!.push(n / ((t2 - t1) / 1000)); }
    });
  }
  const ratio = (xs: number[][]) => median(xs[0]!.map((a, i) => xs[1]![i]! / a));
  process.stdout.write(`A ${values['a-build'] ?? 'this build'} ${values.a ?? '{}'}, B this build ${values.b ?? '{}'}; ${rounds} rounds, ${threads} threads${values['b-first'] ? ', B loaded first' : ''}\n`);
  process.stdout.write(`prompt      A ${median(pp[0]!).toFixed(1)} tok/s  B ${median(pp[1]!).toFixed(1)} tok/s  B/A ${ratio(pp).toFixed(3)}\n`);
  process.stdout.write(`generation  A ${median(gen[0]!).toFixed(2)} tok/s  B ${median(gen[1]!).toFixed(2)} tok/s  B/A ${ratio(gen).toFixed(3)} (per round: ${gen[0]!.map((a, i) => (gen[1]![i]! / a).toFixed(2)).join(' ')})\n`);
  for (const m of models) await (m.backend as CpuBackend).close();
}

main().catch((e) => {
  process.stderr.write(`ab: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
