#!/bin/sh
# Regenerates the committed test fixtures (run from the repository root).
# The random draws come from torch.Generator; the files were made with Debian's python3-torch 1.13.
set -e
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
$PY tools/reference/make_checkpoint.py --arch moe --out test/fixtures/models/moe-tiny --seed 1 --shards 3 \
  --dtype bf16 --vocab 512 --hidden 120 --heads 10 --kv-heads 2 --layers 2 --experts 64 \
  --moe-intermediate 16 --shared-intermediate 64 --tokens 1,17,305,42,511,0,256,99,7,480,128,64
$PY tools/reference/make_checkpoint.py --arch embedded --out test/fixtures/models/embedded-tiny --seed 2 --shards 2 \
  --dtype bf16 --vocab 512 --hidden 96 --heads 8 --kv-heads 2 --layers 3 --intermediate 200 \
  --tokens 1,23,400,5,511,0,77,310,42,42,9,150
