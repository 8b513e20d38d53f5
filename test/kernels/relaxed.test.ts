// Runs the kernel tests, and the cpu backend's tests on quantized models, again against the
// relaxed-SIMD build, in a child Node that enables relaxed SIMD (Node 20 keeps it behind a V8 flag).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const FLAG = '--experimental-wasm-relaxed-simd';
const kernelFiles = ['convert', 'matmul', 'x4', 'ops', 'module', 'threads'].map((f) => fileURLToPath(new URL(`./${f}.test.js`, import.meta.url)));
// the backend on the relaxed kernels: Q4_0 / K-quant models, batch invariance, llama.cpp's Q4_K_M file
const backendFiles = ['../backend/cpu.test.js', '../models/kquant.test.js'].map((f) => fileURLToPath(new URL(f, import.meta.url)));

/** Runs test files in a child Node on the relaxed build; at least `least` tests must pass. */
function runRelaxed(files: string[], least: number): void {
  const env: NodeJS.ProcessEnv = { ...process.env, PANGU_KERNELS_VARIANT: 'relaxed' };
  delete env['NODE_TEST_CONTEXT']; // run as a top-level test runner, not as a child of this one
  const probe = spawnSync(process.execPath, [FLAG, '-e', '0']);
  const flags = probe.status === 0 ? [FLAG] : []; // newer Node: relaxed SIMD on by default, flag may be gone
  const run = spawnSync(process.execPath, [...flags, '--test', '--test-reporter=tap', ...files], { env, encoding: 'utf8' });
  assert.equal(run.status, 0, `relaxed-SIMD tests failed:\n${run.stdout}\n${run.stderr}`);
  const pass = /^# pass (\d+)$/m.exec(run.stdout);
  const fail = /^# fail (\d+)$/m.exec(run.stdout);
  assert.ok(pass && Number(pass[1]) >= least, `expected the tests to run:\n${run.stdout}`);
  assert.equal(fail?.[1], '0');
}

const skip = process.env['PANGU_KERNELS_VARIANT'] === 'relaxed';
it('relaxed-SIMD build passes the same kernel tests', { skip }, () => runRelaxed(kernelFiles, 40));
it('relaxed-SIMD build passes the cpu backend tests on quantized models', { skip }, () => runRelaxed(backendFiles, 30));
