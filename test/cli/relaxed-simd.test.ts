// The `pangu` command runs the relaxed-SIMD kernels wherever the engine can (on Node 20 by setting
// V8's flag itself); PANGU_KERNELS_VARIANT=simd keeps the plain build. The library alone never
// sets the flag (module.test.ts checks its own default).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { panguEmbeddedConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { REPO, runCli, tempDir } from '../helpers.js';

const WASM = path.join(REPO, 'dist', 'src', 'kernels', 'wasm.js');

/** Whether a child Node can run the relaxed build: as it comes, or with V8's flag on its command line. */
function engineHasRelaxedSimd(): boolean {
  const probe = `import('${WASM}').then((m) => process.exit(m.relaxedSimdSupported() ? 0 : 1))`;
  if (spawnSync(process.execPath, ['-e', probe]).status === 0) return true;
  return spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', probe]).status === 0;
}

test('enableRelaxedSimd lets this engine compile the relaxed build without a command-line flag', () => {
  const script = `import('${WASM}').then(async (m) => {
    const enabled = m.enableRelaxedSimd();
    const after = (await m.compileKernels()).variant;
    console.log(JSON.stringify({ enabled, after }));
  })`;
  const env = { ...process.env };
  delete env['PANGU_KERNELS_VARIANT'];
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { enabled: boolean; after: string };
  const has = engineHasRelaxedSimd();
  assert.equal(got.enabled, has);
  assert.equal(got.after, has ? 'relaxed' : 'simd');
});

test('pangu picks the relaxed kernels where the engine has them; PANGU_KERNELS_VARIANT=simd keeps the plain build', () => {
  const dir = tempDir();
  writeSyntheticModel(dir, panguEmbeddedConfig(), { seed: 3 });
  const env = { ...process.env };
  delete env['PANGU_KERNELS_VARIANT'];
  const backend = (e: NodeJS.ProcessEnv): string => {
    const r = runCli(['bench', '--model', dir, '-p', '2', '-n', '2', '--reps', '1', '--json'], undefined, e);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { backend: string }).backend;
  };
  assert.match(backend(env), engineHasRelaxedSimd() ? /wasm relaxed/ : /wasm simd/);
  assert.match(backend({ ...env, PANGU_KERNELS_VARIANT: 'simd' }), /wasm simd/);
});
