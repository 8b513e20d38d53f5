// The wasm module's shape (what makes it safe to share one memory between
// threads) and the Arena allocator.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Arena, compileKernels, createSharedMemory, Kernels, MAX_BYTES, relaxedSimdSupported, wasmApi } from '../../src/kernels/wasm.js';

/** Section ids present in a wasm binary. */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let p = 8;
  while (p < bytes.length) {
    const id = bytes[p++]!;
    let size = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++]!;
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    ids.push(id);
    p += size;
  }
  return ids;
}

describe('kernel module', () => {
  for (const file of ['kernels-simd.wasm', 'kernels-relaxed.wasm']) {
    it(`${file}: no data segments, no start function, imports only env.memory`, () => {
      const bytes = readFileSync(new URL(`../../src/kernels/${file}`, import.meta.url));
      const ids = sectionIds(bytes);
      assert.ok(!ids.includes(11), 'data section present');
      assert.ok(!ids.includes(12), 'data count section present');
      assert.ok(!ids.includes(8), 'start section present');
      if (file === 'kernels-simd.wasm' || relaxedSimdSupported()) {
        const m = new wasmApi.Module(bytes);
        assert.deepEqual(wasmApi.Module.imports(m), [{ module: 'env', name: 'memory', kind: 'memory' }]);
        const names = wasmApi.Module.exports(m).map((e) => e.name);
        for (const want of ['matmul_f32', 'matmul_bf16', 'matmul_f16', 'matmul_q8_0', 'matmul_q4_0', 'matmul_q4_k', 'quantize_q8_0', 'rmsnorm', 'rope_neox', 'softmax', 'swiglu', 'attention']) {
          assert.ok(names.includes(want), `missing export ${want}`);
        }
      }
    });
  }

  it('the default variant is plain SIMD unless the engine validates relaxed SIMD', async () => {
    const { variant } = await compileKernels();
    const env = process.env['PANGU_KERNELS_VARIANT'];
    assert.equal(variant, env === 'simd' || env === 'relaxed' ? env : relaxedSimdSupported() ? 'relaxed' : 'simd');
    if (!relaxedSimdSupported()) await assert.rejects(compileKernels('relaxed'), /relaxed SIMD/);
  });

  it('two instances on one shared memory see each other’s writes', async () => {
    const { module, variant } = await compileKernels();
    const memory = createSharedMemory(1 << 16);
    const a = new Kernels(module, memory, variant);
    const b = new Kernels(module, memory, variant);
    const arena = new Arena(memory);
    const x = arena.put(Float32Array.from([1, 2, 3, 4, 5]));
    const y = arena.alloc(20);
    a.scale(y, x, 2, 5);
    b.add(y, y, x, 5);
    assert.deepEqual(Array.from(arena.f32(y, 5)), [3, 6, 9, 12, 15]);
  });
});

describe('offsets above 2 GiB', () => {
  it('kernels work on buffers placed past 2^31 (pointers wrap to negative i32 on the way in)', async () => {
    const { module, variant } = await compileKernels();
    const memory = createSharedMemory(1);
    const k = new Kernels(module, memory, variant);
    const arena = new Arena(memory, { base: 2 ** 31 + 4096 });
    const x = arena.put(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const w = arena.put(Float32Array.from([1, 0, 0, 0, 0, 0, 0, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]));
    const out = arena.alloc(8);
    assert.ok(out > 2 ** 31);
    k.matmul('f32', out, x, w, 1, 8, 2);
    assert.deepEqual(Array.from(arena.f32(out, 2)), [9, 18]);
    const q = arena.alloc(34);
    k.quantizeQ8_0(q, arena.put(new Float32Array(32).fill(2)), 32);
    assert.deepEqual(Array.from(arena.u8(q + 2, 4)), [127, 127, 127, 127]);
  });
});

describe('Arena', () => {
  it('aligns, grows the memory on demand, and resets to a mark', () => {
    const memory = createSharedMemory(1);
    const arena = new Arena(memory);
    assert.equal(memory.buffer.byteLength, 65536);
    const a = arena.alloc(10);
    assert.equal(a % 64, 0);
    assert.ok(a >= 64, 'offset 0 stays null');
    const b = arena.alloc(3, 16);
    assert.equal(b % 16, 0);
    assert.ok(b >= a + 10);
    const m = arena.mark();
    const big = arena.alloc(200000);
    assert.ok(memory.buffer.byteLength >= big + 200000);
    arena.f32(big, 50000).fill(1); // view over grown memory works
    arena.reset(m);
    assert.equal(arena.top, m);
    assert.throws(() => arena.alloc(8, 3), /power of two/);
    assert.throws(() => arena.alloc(-1), /bad size/);
  });

  it('fails clearly at the 4 GiB limit and at the memory maximum', () => {
    const arena = new Arena(createSharedMemory(1));
    assert.throws(() => arena.alloc(MAX_BYTES), /past the limit of 4294967296 bytes \(4 GiB/);
    const small = new Arena(createSharedMemory(1, 2));
    small.alloc(60000);
    assert.throws(() => small.alloc(200000), /cannot grow memory/);
    const limited = new Arena(createSharedMemory(1), { base: 1024, limit: 4096 });
    assert.equal(limited.alloc(100), 1024);
    assert.throws(() => limited.alloc(4000), /past the limit of 4096 bytes/);
  });
});
