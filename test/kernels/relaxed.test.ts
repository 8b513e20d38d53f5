// Runs the kernel tests again against the relaxed-SIMD build, in a child
// Node that enables relaxed SIMD (Node 20 keeps it behind a V8 flag).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const FLAG = '--experimental-wasm-relaxed-simd';
const files = ['convert', 'matmul', 'ops', 'module', 'threads'].map((f) => fileURLToPath(new URL(`./${f}.test.js`, import.meta.url)));

it('relaxed-SIMD build passes the same kernel tests', { skip: process.env['PANGU_KERNELS_VARIANT'] === 'relaxed' }, () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PANGU_KERNELS_VARIANT: 'relaxed' };
  delete env['NODE_TEST_CONTEXT']; // run as a top-level test runner, not as a child of this one
  const probe = spawnSync(process.execPath, [FLAG, '-e', '0']);
  const flags = probe.status === 0 ? [FLAG] : []; // newer Node: relaxed SIMD on by default, flag may be gone
  const run = spawnSync(process.execPath, [...flags, '--test', '--test-reporter=tap', ...files], { env, encoding: 'utf8' });
  assert.equal(run.status, 0, `relaxed-SIMD kernel tests failed:\n${run.stdout}\n${run.stderr}`);
  const pass = /^# pass (\d+)$/m.exec(run.stdout);
  const fail = /^# fail (\d+)$/m.exec(run.stdout);
  assert.ok(pass && Number(pass[1]) >= 40, `expected the kernel tests to run:\n${run.stdout}`);
  assert.equal(fail?.[1], '0');
});
