// The WebAssembly backend against the PyTorch reference fixtures, for several thread counts
// (each thread holds its own shard of the weights), with and without the KV cache.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CpuBackend, splitRange } from '../../src/backend/cpu/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { generate } from '../../src/engine/generate.js';
import { convertToGguf } from '../../src/models/convert.js';
import { loadModel } from '../../src/models/load.js';
import type { MixtureOfExperts } from '../../src/models/layers/moe.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { FIXTURES, forwardSteps, maxAbsDiff, tempDir } from '../helpers.js';
import { writeClearModel } from '../models/gguf-helpers.js';
import { randn, rng } from '../kernels/helpers.js';

interface Expected { tokens: number[]; logits: number[][] }

/**
 * A token's logits are the same bits whether it runs alone or in a batch with other sequences (the
 * server's continuous batching): every matmul (Q8_0, Q4_0, f32, f16, bf16) rounds a row the same for one
 * row and several.
 */
async function batchInvariance(model: string, opts: { quant?: 'q8_0' | 'q4_0' } = {}): Promise<void> {
  const backend = await CpuBackend.create({ threads: 2, ...opts });
  try {
    const m = loadModel(model, { backend });
    const prompts = [[5, 9, 13, 2], [7, 7, 1], [30, 4, 11, 12, 8]];
    const batched = prompts.map(() => m.newCache(32)), alone = prompts.map(() => m.newCache(32));
    prompts.forEach((p, i) => { m.forward(p, batched[i]!, 'last'); m.forward(p, alone[i]!, 'last'); });
    for (let step = 0; step < 3; step++) {
      const next = prompts.map((_, i) => (step * 17 + i * 5 + 3) % 200);
      const inBatch = m.forwardBatch(next.map((t, i) => ({ tokens: [t], cache: batched[i]! })), 'last');
      next.forEach((t, i) => assert.deepEqual(inBatch[i], m.forward([t], alone[i]!, 'last'), `step ${step}, sequence ${i}`));
    }
  } finally {
    await backend.close();
  }
}

test('a Pangu Pro MoE GGUF in Q8_0 (its router in F32, MoGE routed inside the job): a token\'s logits are the same bits alone and in a batch with other sequences', async () => {
  const tmp = tempDir(), dir = path.join(tmp, 'moe'), file = path.join(tmp, 'moe.q8_0.gguf');
  writeSyntheticModel(dir, panguMoeConfig(), { seed: 11, dtype: 'F32' });
  convertToGguf(dir, file, { type: 'q8_0' });
  await batchInvariance(file);
});

function worstError(logits: Float32Array, expected: number[][], v: number, from = 0): number {
  let worst = 0;
  expected.forEach((row, i) => { worst = Math.max(worst, maxAbsDiff(logits.subarray((i - from) * v, (i - from + 1) * v), row)); });
  return worst;
}

test('shards: a multiple of the threads, each under 3.5 GiB', () => {
  assert.equal(CpuBackend.shardsFor(1e9, 2), 2);
  assert.equal(CpuBackend.shardsFor(8e9, 2), 4);
  assert.equal(CpuBackend.shardsFor(8e9, 1), 3);
  assert.equal(CpuBackend.shardsFor(0, 3), 3);
});

test('splitRange cuts a range into aligned contiguous parts', () => {
  assert.deepEqual(splitRange(10, 3), [[0, 3], [3, 6], [6, 10]]);
  assert.deepEqual(splitRange(200, 2, 32), [[0, 96], [96, 200]]);
  assert.deepEqual(splitRange(2, 3), [[0, 0], [0, 1], [1, 2]]);
  assert.deepEqual(splitRange(64, 1, 32), [[0, 64]]);
});

for (const name of ['moe-tiny', 'embedded-tiny']) {
  const dir = path.join(FIXTURES, 'models', name);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  for (const [threads, shards] of [[1, 1], [2, 2], [3, 3], [1, 3], [2, 4]] as const) {
    test(`${name} on ${threads} thread(s), ${shards} weight shard(s): logits within 1e-5 of the reference, full forward and token by token`, async () => {
      const backend = await CpuBackend.create({ threads, shards });
      try {
        const model = loadModel(dir, { backend });
        const v = model.args.vocab_size;
        const full = model.forward(expected.tokens, model.newCache(32), 'all');
        assert.ok(worstError(full, expected.logits, v) <= 1e-5, `full: ${worstError(full, expected.logits, v)}`);
        const cache = model.newCache(32);
        model.forward(expected.tokens.slice(0, 5), cache, 'last');
        for (let i = 5; i < expected.tokens.length; i++) {
          const step = model.forward([expected.tokens[i]!], cache, 'last');
          const err = maxAbsDiff(step, expected.logits[i]!);
          assert.ok(err <= 1e-5, `position ${i}: ${err}`);
        }
      } finally {
        await backend.close();
      }
    });
  }
  test(`${name}: the composed attention block and matrices split across shards compute the same logits as the fused block`, async () => {
    for (const [threads, shards] of [[2, 2], [2, 4]] as const) {
      const logits: Float32Array[] = [];
      for (const fuseAttention of [true, false]) {
        const backend = await CpuBackend.create({ threads, shards, fuseAttention, smallMatrixBytes: fuseAttention ? undefined : 0 });
        try {
          const model = loadModel(dir, { backend });
          const full = model.forward(expected.tokens, model.newCache(32), 'all');
          assert.ok(worstError(full, expected.logits, model.args.vocab_size) <= 1e-5);
          logits.push(full);
        } finally {
          await backend.close();
        }
      }
      assert.ok(maxAbsDiff(logits[0]!, Array.from(logits[1]!)) <= 1e-5, `${threads} threads, ${shards} shards`);
    }
  });

  test(`${name}: matrix products cut into chunks that any thread claims compute the very same logits as one chunk per share`, async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 256);
    for (const [threads, shards, quant] of [[2, 2, undefined], [2, 4, 'q8_0'], [3, 3, 'q4_0']] as const) {
      const runs: Float32Array[][] = [];
      // chunkBytes 64: as many chunks as allowed, some of them empty; 0: one chunk per share.
      for (const chunkBytes of [0, 64]) {
        const backend = await CpuBackend.create({ threads, shards, chunkBytes, smallMatrixBytes: 0, ...(quant ? { quant } : {}) });
        try {
          // A prompt (chunks per share fixed), a 3-token step (chunks by bytes) and single tokens.
          runs.push(forwardSteps(loadModel(dir, { backend }), tokens, 30, 3, 64));
        } finally {
          await backend.close();
        }
      }
      runs[0]!.forEach((want, i) => assert.deepEqual(runs[1]![i], want, `${threads} threads, ${shards} shards, ${quant ?? 'float'}: output ${i}`));
    }
  });

  test(`${name}: whichever thread runs which piece (prompt experts claimed task by task), 1, 2 and 3 threads on 3 shards compute the same bits`, async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => (i * 53 + 7) % 256);
    const runs: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      const backend = await CpuBackend.create({ threads, shards: 3, smallMatrixBytes: 0 });
      try {
        runs.push(forwardSteps(loadModel(dir, { backend }), tokens, 30, 3, 64));
      } finally {
        await backend.close();
      }
    }
    for (const run of runs.slice(1)) runs[0]!.forEach((want, i) => assert.deepEqual(run[i], want, `output ${i}`));
  });

  if (name === 'moe-tiny') {
    test(`${name}: MoGE routed inside the experts' job computes the very same logits and expert choices as the model's routing`, async () => {
      const tokens = Array.from({ length: 24 }, (_, i) => (i * 53 + 7) % 256);
      for (const [threads, shards] of [[1, 1], [2, 2], [3, 3], [2, 4]] as const) {
        const runs: { logits: Float32Array[]; ids: Int32Array[] }[] = [];
        for (const fuseMoge of [false, true]) {
          const backend = await CpuBackend.create({ threads, shards, fuseMoge });
          try {
            const model = loadModel(dir, { backend });
            const cache = model.newCache(64);
            const run = { logits: [] as Float32Array[], ids: [] as Int32Array[] };
            const moe = model.layers.map((l) => l.mlp as MixtureOfExperts);
            assert.equal(moe.every((m) => m.fused !== null), fuseMoge, 'fused blocks');
            run.logits.push(model.forward(tokens.slice(0, 12), cache, 'all')); // a prompt: routed by the model either way
            for (const step of [tokens.slice(12, 15), ...tokens.slice(15).map((t) => [t])]) {
              run.logits.push(model.forward(step, cache, 'all'));
              for (const m of moe) run.ids.push(m.lastExpertIds);
            }
            runs.push(run);
          } finally {
            await backend.close();
          }
        }
        runs[0]!.logits.forEach((want, i) => assert.deepEqual(runs[1]!.logits[i], want, `${threads} threads, ${shards} shards: output ${i}`));
        runs[0]!.ids.forEach((want, i) => assert.deepEqual(runs[1]!.ids[i], want, `${threads} threads, ${shards} shards: expert ids ${i}`));
      }
    });
  }

  // 4 shards on 2 kv heads: shards without heads; Q8_0 on 2 shards: o_proj cut by output rows (its
  // columns of the second shard's heads start at 48, inside a block of 32).
  const layerRuns: readonly (readonly [threads: number, shards: number, kvType: 'f32' | 'f16' | 'bf16', quant?: 'q8_0'])[] =
    [[1, 1, 'f32'], [2, 2, 'f32'], [3, 3, 'f16'], [2, 4, 'bf16'], ...(name === 'embedded-tiny' ? [[2, 2, 'f32', 'q8_0']] as const : [])];
  test(`${name}: each decoder layer in one job (the residual stream and the norms inside it) computes the very same logits and expert choices as a job per block`, async () => {
    const tokens = Array.from({ length: 24 }, (_, i) => (i * 29 + 5) % 256);
    for (const [threads, shards, kvType, quant] of layerRuns) {
      const runs: { logits: Float32Array[]; ids: Int32Array[]; jobsPerToken: number }[] = [];
      let layers = 0;
      for (const fuseLayers of [false, true]) {
        const backend = await CpuBackend.create({ threads, shards, kvType, fuseLayers, ...(quant ? { quant } : {}) });
        try {
          const model = loadModel(dir, { backend });
          layers = model.layers.length;
          const run = { logits: [] as Float32Array[], ids: [] as Int32Array[], jobsPerToken: 0 };
          const moe = model.layers.map((l) => l.mlp).filter((m): m is MixtureOfExperts => 'lastExpertIds' in m);
          const cache = model.newCache(64), other = model.newCache(64);
          run.logits.push(model.forward(tokens.slice(0, 12), cache, 'all'), model.forward(tokens.slice(0, 5), other, 'all'));
          const steps = [tokens.slice(12, 15), ...tokens.slice(15).map((t) => [t])];
          const jobs0 = backend.poolStats.jobs;
          for (const step of steps) {
            run.logits.push(model.forward(step, cache, 'all'));
            for (const m of moe) run.ids.push(m.lastExpertIds);
          }
          run.jobsPerToken = (backend.poolStats.jobs - jobs0) / steps.length;
          // two sequences in one step (segments of other caches, at other positions)
          run.logits.push(...model.forwardBatch([{ tokens: [7], cache }, { tokens: [9, 11], cache: other }], 'all'));
          runs.push(run);
        } finally {
          await backend.close();
        }
      }
      const what = `${threads} threads, ${shards} shards, ${kvType} cache${quant ? `, ${quant}` : ''}`;
      runs[0]!.logits.forEach((want, i) => assert.deepEqual(runs[1]!.logits[i], want, `${what}: output ${i}`));
      runs[0]!.ids.forEach((want, i) => assert.deepEqual(runs[1]!.ids[i], want, `${what}: expert ids ${i}`));
      // the layers did run whole: one job each, and at most one more (the output projection)
      assert.ok(runs[1]!.jobsPerToken <= layers + 1 && runs[1]!.jobsPerToken < runs[0]!.jobsPerToken, `${what}: ${runs[1]!.jobsPerToken} jobs per step`);
    }
  });

  test(`${name} in its own bf16: a token's logits are the same bits alone and in a batch with other sequences`, () => batchInvariance(dir));
  // Only this fixture has widths Q8_0 can take (a multiple of 32); the MoE GGUF above is generated so.
  if (name === 'embedded-tiny') {
    for (const quant of ['q8_0', 'q4_0'] as const) {
      test(`${name} in ${quant}: a token's logits are the same bits alone and in a batch with other sequences`, () => batchInvariance(dir, { quant }));
    }
  }

  test(`${name}: a 300-token prompt on 2 threads (MLP slices that are not multiples of 32, grown I/O buffers) computes what the reference computes`, async () => {
    const ref = loadModel(dir, { backend: new ReferenceBackend() });
    const tokens = Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % ref.args.vocab_size);
    const want = ref.forward(tokens, ref.newCache(320), 'last');
    const backend = await CpuBackend.create({ threads: 2 });
    try {
      const model = loadModel(dir, { backend });
      const cache = model.newCache(320);
      model.forward(tokens.slice(0, 3), cache, 'last'); // small buffers first, then they grow
      const got = model.forward(tokens.slice(3), cache, 'last');
      assert.ok(maxAbsDiff(got, Array.from(want)) <= 1e-4, `${maxAbsDiff(got, Array.from(want))}`);
    } finally {
      await backend.close();
    }
  });

  // K/V rounded to f16 (relative 2^-11) or bf16 (2^-8): measured 7-8e-4 (f16) and 6-8e-3 (bf16)
  // on these fixtures, far below the logits' spread and far above the f32 cache's 1e-6.
  for (const [kvType, bound] of [['f16', 5e-3], ['bf16', 2e-2]] as const) {
    test(`${name} with an ${kvType} KV cache: half the cache bytes, logits close to the reference, fused and composed attention agree`, async () => {
      const got: Float32Array[] = [];
      for (const fuseAttention of [true, false]) {
        const backend = await CpuBackend.create({ threads: 2, kvType, fuseAttention });
        try {
          const model = loadModel(dir, { backend });
          const v = model.args.vocab_size;
          const cache = model.newCache(32);
          const kv = model.args.num_hidden_layers * 2 * 32 * model.args.num_key_value_heads * model.args.head_dim;
          assert.equal(backend.kvBytes, kv * 2);
          const full = model.forward(expected.tokens, cache, 'all');
          const err = worstError(full, expected.logits, v);
          assert.ok(err <= bound && err > 1e-4, `${kvType} KV: ${err}`);
          // token by token through the cache equals the full forward
          const step = model.newCache(32);
          model.forward(expected.tokens.slice(0, 5), step, 'last');
          for (let i = 5; i < expected.tokens.length; i++) {
            const logits = model.forward([expected.tokens[i]!], step, 'last');
            assert.ok(maxAbsDiff(logits, Array.from(full.subarray(i * v, (i + 1) * v))) <= 1e-4, `position ${i}`);
          }
          got.push(full);
        } finally {
          await backend.close();
        }
      }
      const apart = maxAbsDiff(got[0]!, Array.from(got[1]!));
      // Their f32 K/V differ in rounding (bias added per shard or on the main thread), and a
      // rounding to 16 bits can tip by one step: the two paths agree to that.
      assert.ok(apart <= bound / 10, `fused vs composed: ${apart}`); // measured 1e-5 to 6e-5 (f16), 1e-6 (bf16)
    });
  }

  test(`${name} quantized to q8_0 and q4_0 at load: logits within the quantization bound`, async () => {
    // Bounds measured on these fixtures (2.9e-2 / 4.6e-2 for q8_0), with headroom; far below the
    // logits' spread between positions (> 1).
    for (const [quant, bound] of [['q8_0', 0.1], ['q4_0', 0.6]] as const) {
      const backend = await CpuBackend.create({ threads: 2, quant });
      try {
        const model = loadModel(dir, { backend });
        const full = model.forward(expected.tokens, model.newCache(32), 'all');
        const err = worstError(full, expected.logits, model.args.vocab_size);
        assert.ok(err <= bound, `${quant}: ${err}`);
        assert.ok(err > 1e-4, `${quant} must differ from the float weights (${err})`);
      } finally {
        await backend.close();
      }
    }
  });
}

for (const [name, config, extra] of [
  ['PanguProMoE', panguMoeConfig({ hidden_size: 256, moe_intermediate_size: 256, shared_expert_intermediate_size: 256, num_hidden_layers: 1 }), { clearRouting: true }],
  ['PanguEmbedded', panguEmbeddedConfig({ hidden_size: 256, intermediate_size: 512, num_hidden_layers: 1 }), {}],
] as const) {
  test(`${name}: GGUF Q8_0 / Q4_0 / Q4_K / Q4_K_M (Q4_K + Q6_K) / Q5_K_M (Q5_K + Q6_K) run on the cpu backend's integer kernels; Q8_0 keeps the 64 greedy tokens`, async () => {
    const dir = tempDir();
    const hf = path.join(dir, 'hf');
    writeClearModel(hf, config, { seed: 3, dtype: 'F32', ...extra });
    const prompt = [1, 5, 9, 200];
    const original = [...generate(loadModel(hf), prompt, { maxTokens: 64 })];
    const backend = await CpuBackend.create({ threads: 2 });
    try {
      for (const type of ['q8_0', 'q4_0', 'q4_k', 'q4_k_m', 'q5_k_m'] as const) {
        const file = path.join(dir, `m-${type}.gguf`);
        const { types } = convertToGguf(hf, file, { type });
        if (type.endsWith('_m')) assert.ok(types['Q6_K']! > 0 && types[type === 'q4_k_m' ? 'Q4_K' : 'Q5_K']! > 0, JSON.stringify(types));
        // Against the same weights in f32 arithmetic: only the Q8_0 rounding of activations differs.
        const exact = loadModel(file);
        const fast = loadModel(file, { backend });
        const want = exact.forward(prompt, exact.newCache(8), 'all');
        const got = fast.forward(prompt, fast.newCache(8), 'all');
        const rel = maxAbsDiff(got, want) / Math.sqrt(want.reduce((s, x) => s + x * x, 0) / want.length);
        assert.ok(rel <= 0.05, `${type}: max abs diff ${rel} of the logits' RMS`);
        // One token at a time, as generation runs (the K-quants' matvec on Q8_K activations, the
        // MoE's experts cut into chunks): the last position's logits within the same bound.
        const steps = fast.newCache(8);
        let last: ArrayLike<number> = [];
        for (const t of prompt) last = fast.forward([t], steps, 'last');
        const v = fast.args.vocab_size, wantLast = want.slice((prompt.length - 1) * v, prompt.length * v);
        const relLast = maxAbsDiff(last, wantLast) / Math.sqrt(wantLast.reduce((s, x) => s + x * x, 0) / v);
        assert.ok(relLast <= 0.05, `${type} one token at a time: max abs diff ${relLast} of the logits' RMS`);
        if (type === 'q8_0') assert.deepEqual([...generate(fast, prompt, { maxTokens: 64 })], original);
      }
    } finally {
      await backend.close();
    }
  });
}

test('prompt experts: when one shard holds every expert chosen, the other thread takes over tasks of its share, and the output is the same bits as on one thread', async () => {
  // 8 experts in 2 groups (experts 0-3 on shard 0, 4-7 on shard 1); every pick is on shard 0, so
  // the worker, its own share empty, claims shard 0's tasks while the main thread runs them too.
  const hidden = 128, inter = 256, n = 48, k = 2, r = rng(97);
  const tensor = (name: string, shape: number[]) => {
    const values = randn(r, shape[0]! * shape[1]!, 0.1);
    return { name, dtype: 'F32' as const, shape, bytes: new Uint8Array(values.buffer) };
  };
  const weightsOf = Array.from({ length: 8 }, (_, e) => [tensor(`g${e}`, [inter, hidden]), tensor(`u${e}`, [inter, hidden]), tensor(`d${e}`, [hidden, inter])] as const);
  const x = randn(r, n * hidden);
  const ids = Int32Array.from({ length: n * k }, (_, i) => (i * 7 + Math.floor(i / 5)) % 4);
  for (let i = 0; i < n; i++) if (ids[2 * i] === ids[2 * i + 1]) ids[2 * i + 1] = (ids[2 * i + 1]! + 1) % 4;
  const wts = Float32Array.from({ length: n * k }, (_, i) => 0.25 + (i % 3) * 0.2);
  const outs: Float32Array[] = [];
  for (const threads of [1, 2]) {
    const backend = await CpuBackend.create({ threads, shards: 2 });
    try {
      const experts = weightsOf.map(([g, u, d], e) => backend.mlp(g, u, d, { group: Math.floor(e / 4), groups: 2 }));
      const out = new Float32Array(n * hidden);
      for (let rep = 0; rep < 3; rep++) backend.experts(out, x, n, experts, ids, wts, k);
      outs.push(out);
    } finally {
      await backend.close();
    }
  }
  assert.deepEqual(outs[1], outs[0]);
  assert.ok(outs[0]!.some((v) => v !== 0));
});
