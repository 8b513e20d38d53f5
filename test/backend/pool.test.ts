import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadPool } from '../../src/backend/cpu/pool.js';

const script = new URL('./pool-worker.js', import.meta.url);

// More threads than this machine's 2 cores would make the busy-waits slow, not wrong: keep jobs few there.
for (const [participants, jobs] of [[2, 20000], [3, 300]] as const) {
  test(`${participants} participants run every one of ${jobs} jobs, in order, with their own arguments`, async () => {
    const counters = new SharedArrayBuffer(participants * 8);
    const pool = await ThreadPool.start(participants, script, Array(participants).fill(counters));
    const c = new Float64Array(counters);
    for (let j = 0; j < jobs; j++) {
      for (let p = 0; p < participants; p++) pool.args(p)[1] = p + 1;
      pool.run(1, () => { c[0]! += pool.args(0)[1]!; });
      // After run returns, every worker's share is visible.
      assert.equal(c[participants - 1], participants * (j + 1));
    }
    assert.deepEqual([...c], Array.from({ length: participants }, (_, p) => (p + 1) * jobs));
    await pool.close();
  });
}

test('a worker that throws fails the job with its message; the pool keeps working', async () => {
  const counters = new SharedArrayBuffer(2 * 8);
  const pool = await ThreadPool.start(2, script, [null, counters]);
  assert.throws(() => pool.run(2, () => {}), /worker 1 failed: bad job in worker 1/);
  pool.args(1)[1] = 5;
  pool.run(1, () => {});
  assert.equal(new Float64Array(counters)[1], 5);
  await pool.close();
  assert.throws(() => pool.run(1, () => {}), /thread pool is closed/);
});

test('a pool of one participant runs on the main thread alone', async () => {
  const pool = await ThreadPool.start(1, script, []);
  let ran = 0;
  pool.run(1, () => { ran++; });
  assert.equal(ran, 1);
  await pool.close();
});
