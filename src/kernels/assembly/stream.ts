// STREAM-like bandwidth probes, used by the benchmark to put the matvec
// GB/s figures next to what one core can move at all.

/** a[i] = b[i] + s * c[i] over count f32 (a, b, c: [count]). */
export function stream_triad(a: usize, b: usize, c: usize, s: f32, count: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    const o = <usize>i << 2;
    v128.store(a + o, f32x4.add(v128.load(b + o), f32x4.mul(sv, v128.load(c + o))));
    v128.store(a + o, f32x4.add(v128.load(b + o, 16), f32x4.mul(sv, v128.load(c + o, 16))), 16);
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(a + o, load<f32>(b + o) + s * load<f32>(c + o));
  }
}

/** Sum of p[count] f32 read as fast as possible (read-only bandwidth). */
export function stream_sum(p: usize, count: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= count; i += 16) {
    const q = p + (<usize>i << 2);
    a0 = f32x4.add(a0, v128.load(q));
    a1 = f32x4.add(a1, v128.load(q, 16));
    a2 = f32x4.add(a2, v128.load(q, 32));
    a3 = f32x4.add(a3, v128.load(q, 48));
  }
  const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let t = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
  for (; i < count; i++) t += load<f32>(p + (<usize>i << 2));
  return t;
}
