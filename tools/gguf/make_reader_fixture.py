#!/usr/bin/env python3
"""Writes test/fixtures/gguf/gguf-py-writer.gguf (+ .json with the expected decoded values) with
llama.cpp's own GGUF writer (gguf-py GGUFWriter), so the project's reader is tested on a file it
did not write: every metadata value type, arrays, a non-default alignment (64), and tensors of
F32, F16, BF16, Q8_0, Q4_0, Q4_K with 1 to 3 dimensions.

  PYTHONPATH=$LLAMA_CPP/gguf-py /usr/bin/python3 tools/gguf/make_reader_fixture.py test/fixtures/gguf/gguf-py-writer.gguf
"""
import json
import sys

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T, GGUFValueType as V, quants

out = sys.argv[1]
w = GGUFWriter(out, 'pangu-test')
w.data_alignment = 64
w.add_uint32('general.alignment', 64)
w.add_string('general.name', 'gguf-py fixture ✓')
w.add_uint8('t.u8', 200)
w.add_int8('t.i8', -100)
w.add_uint16('t.u16', 60000)
w.add_int16('t.i16', -30000)
w.add_uint32('t.u32', 4000000000)
w.add_int32('t.i32', -2000000000)
w.add_float32('t.f32', 0.25)
w.add_uint64('t.u64', 2**53 + 2)
w.add_int64('t.i64', -(2**40))
w.add_float64('t.f64', 1.0 / 3.0)
w.add_bool('t.bool', False)
w.add_array('t.arr.str', ['a', 'bc', '盘古'])
w.add_key_value('t.arr.i32', [1, -2, 3], V.ARRAY, sub_type=V.INT32)
w.add_key_value('t.arr.f32', [0.5, 1.5], V.ARRAY, sub_type=V.FLOAT32)

rng = np.random.default_rng(11)
expected = {}


def add(name, values, qtype):
    values = values.astype(np.float32)
    if qtype == T.F32:
        w.add_tensor(name, values)
        dec = values
    elif qtype == T.F16:
        w.add_tensor(name, values.astype(np.float16))
        dec = values.astype(np.float16).astype(np.float32)
    else:
        q = quants.quantize(values, qtype) if qtype != T.Q4_K else None
        if qtype == T.Q4_K:
            # gguf-py cannot quantize Q4_K: random valid blocks, decoded by gguf-py.
            q = rng.integers(0, 256, size=values.shape[:-1] + (values.shape[-1] // 256 * 144,), dtype=np.uint8)
            q.reshape(-1, 144)[:, 0:2] = np.frombuffer(np.float16(0.01).tobytes(), dtype=np.uint8)
            q.reshape(-1, 144)[:, 2:4] = np.frombuffer(np.float16(0.02).tobytes(), dtype=np.uint8)
        w.add_tensor(name, q, raw_dtype=qtype)
        dec = quants.dequantize(q, qtype).astype(np.float32)
    expected[name] = {'type': qtype.name, 'shape': list(values.shape), 'values': dec.reshape(-1).tolist()}


add('a.f32', rng.standard_normal((3, 5)), T.F32)
add('b.f16', rng.standard_normal((2, 32)), T.F16)
add('c.bf16', rng.standard_normal((32,)), T.BF16)
add('d.q8_0', rng.standard_normal((2, 2, 64)), T.Q8_0)
add('e.q4_0', rng.standard_normal((1, 32)), T.Q4_0)
add('f.q4_k', rng.standard_normal((2, 256)), T.Q4_K)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
with open(out.replace('.gguf', '.json'), 'w') as f:
    json.dump(expected, f)
    f.write('\n')
print(f'wrote {out}')
