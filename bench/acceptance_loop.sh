#!/usr/bin/env bash
# The whole loop on this machine, CPU only (issue 15's acceptance), as one CLI sequence:
# collect on training seeds -> two datasets from the same DB (quality filter vs everything) ->
# FFT of sft-studio/tiny-qwen3 on the local backend -> evals on 50 seeds disjoint from training ->
# the runs ledger compares them. Figures of a run are in bench/RESULTS.md.
#
#   bash bench/acceptance_loop.sh WORKDIR          # ~1-2 h on a busy 2-core box, ~20 min quiet
#
# WORKDIR gets the workspace (ws/: traces.db, ft_data/, configs/) and its own data dir (data/: the
# local backend, its models, saved evals and the runs ledger), so nothing of the user's is touched.
set -euo pipefail
WORK=$(realpath -m "${1:?usage: acceptance_loop.sh WORKDIR}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SFT_STUDIO_DATA_DIR="$WORK/data"
WS="$WORK/ws"
S=(uv run --project "$ROOT" sft-studio --workspace "$WS")
mkdir -p "$WS/configs"

# 1. Traces on training seeds (1000-1299, 2000-2299 teacher; 3000-3199 random): ~41 k decisions.
"${S[@]}" collect --db "$WS/traces.db" --policy teacher --seeds 1000-1299 --max-turns 60
"${S[@]}" collect --db "$WS/traces.db" --policy teacher --seeds 2000-2299 --max-turns 50
"${S[@]}" collect --db "$WS/traces.db" --policy random --seeds 3000-3199 --max-turns 50

# 2. Two datasets from the same DB: teacher sessions with >= 12 unique achievements, and everything.
"${S[@]}" export --db "$WS/traces.db" --model sft-studio/teacher --min-unique 12 --output "$WS/ft_data/quality.jsonl" --force
"${S[@]}" export --db "$WS/traces.db" --output "$WS/ft_data/everything.jsonl" --force

# 3. One FFT config for the built-in tiny Qwen3 (3 epochs, batch 32, lr 2e-3 cosine, 256 tokens).
#    The hosted CLI does not know this base model, hence --force; the local backend trains it.
cp "$ROOT/configs/crafter_fft_qwen0p6b.toml" "$WS/configs/fft_tiny.toml"
"${S[@]}" config set --force "$WS/configs/fft_tiny.toml" job.model=sft-studio/tiny-qwen3 \
  hyperparameters.n_epochs=3 hyperparameters.per_device_batch=32 hyperparameters.gradient_accumulation_steps=1 \
  hyperparameters.sequence_length=256 hyperparameters.learning_rate=2e-3 compute.gpu_type=CPU \
  hyperparameters.parallelism.use_deepspeed=false hyperparameters.parallelism.bf16=false \
  hyperparameters.parallelism.activation_checkpointing=false


# 4. Train both on the local backend (started on demand; one job at a time); the model id is the
#    last line of `train`.
train() {
  "${S[@]}" train --config "$WS/configs/$1" --dataset "$WS/ft_data/$2.jsonl" --backend local --poll \
    --poll-timeout 14400 | tail -n 1
}
MODELS=("$(train fft_tiny.toml quality)" "$(train fft_tiny.toml everything)")

# 5. Evals on seeds 10000-10049 (disjoint from every training seed; the leakage check runs first).
EVAL=(--seeds 10000-10049 --max-turns 50)
"${S[@]}" eval --policy random "${EVAL[@]}"
"${S[@]}" eval --policy teacher "${EVAL[@]}"
"${S[@]}" eval --backend local --model sft-studio/tiny-qwen3 "${EVAL[@]}" --temperature 0 --max-tokens 64
for m in "${MODELS[@]}"; do
  "${S[@]}" eval --backend local --model "$m" "${EVAL[@]}" --temperature 0 --max-tokens 64
done

# 6. The ledger: every run with its lineage; compare the two fine-tuned models.
"${S[@]}" runs list
"${S[@]}" runs compare "${MODELS[@]}"
"${S[@]}" runs export --format md
