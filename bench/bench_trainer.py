"""The local backend's trainer on CPU: throughput against plain TRL, and the issue-12 acceptance run.

    uv run python bench/bench_trainer.py                      # full: 300 episodes, 2 epochs, 50 prompts
    uv run python bench/bench_trainer.py --episodes 20 --epochs 1 --prompts 10 --throughput-examples 300   # smoke

Steps, all in one run on one machine (results in bench/out/bench_trainer.json, a summary on stdout):

1. Build ``sft-studio/tiny-qwen3`` in a fresh data dir (timed).
2. Teacher chats on seeds 1000+ (one 50-decision episode per seed; the eval seeds 0-49 are never
   trained on).
3. Throughput, same data / model / hyperparameters (FFT, 1 epoch, batch 32, lr 2e-3, max_length
   256): our trainer child (``python -m services.training.trainer_main``, the process the server
   starts) against a plain TRL script (``SFTTrainer`` as TRL's docs show it, CPU flags off), and
   against the same plain script with our labelled-positions loss, so the wrapper's own overhead
   (events, metrics, data checks) is separated from the loss change. tokens/s = non-pad tokens
   trained / ``trainer.train()`` wall time, the same definition for all three. Each runs twice,
   interleaved; the best of each is compared.
4. Acceptance: an FFT job on all the chats (``--epochs``), first -> last logged train.loss, and the
   share of parseable ``interact_many`` calls on ``--prompts`` Crafter prompts from unseen seeds
   (0-49), trained against untrained; a LoRA job on a subset completes, with its rate too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from services.training import protocol  # noqa: E402
from services.training.crafter_chats import crafter_chats, write_chats_jsonl  # noqa: E402

OUT = ROOT / "bench" / "out"
TRAIN_SEED0 = 1000
MAX_LENGTH = 256

PLAIN_TRL = r"""
import json, sys, time
import torch
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
from trl import SFTConfig, SFTTrainer

base, data, out, fast = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "fast"
set_seed(42)
tokenizer = AutoTokenizer.from_pretrained(base)
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
dataset = load_dataset("json", data_files=data, split="train").select_columns(["messages"])
args = SFTConfig(output_dir=out, assistant_only_loss=True, max_length=MAX_LENGTH, packing=False,
                 num_train_epochs=1, per_device_train_batch_size=32, learning_rate=2e-3,
                 lr_scheduler_type="cosine", warmup_steps=0.03, bf16=False, activation_checkpointing=False,
                 use_cpu=True, save_strategy="no", report_to="none", logging_steps=10, seed=42,
                 disable_tqdm=True)
cls = SFTTrainer
if fast:
    from services.training.sft_trainer import LabelledHeadSFTTrainer as cls
trainer = cls(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
tokens = {"n": 0}
inner = trainer.compute_loss
def counting(model, inputs, *a, **k):
    if model.training:
        tokens["n"] += int(inputs["attention_mask"].sum())
    return inner(model, inputs, *a, **k)
trainer.compute_loss = counting
started = time.perf_counter()
trainer.train()
runtime = time.perf_counter() - started
print(json.dumps({"tokens": tokens["n"], "runtime_s": runtime, "tokens_per_second": tokens["n"] / runtime}))
""".replace("MAX_LENGTH", str(MAX_LENGTH))


def child_env(threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "SFT_STUDIO_TORCH_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }


def make_job(job_dir: Path, base: Path, data: Path, train_kind: str, hp: dict[str, Any]) -> protocol.TrainerJob:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / protocol.TRAIN_FILE).write_bytes(data.read_bytes())
    payload = {
        "model": protocol.TINY_QWEN3,
        "hyperparameters": {"train_kind": train_kind, **hp},
        "training_type": "sft_offline",
    }
    job = protocol.TrainerJob(
        job_id=f"job_{job_dir.name}",
        payload=payload,
        requested_base=protocol.TINY_QWEN3,
        base_model_path=str(base),
        effective_base=protocol.TINY_QWEN3,
        train_kind="peft" if train_kind == "peft" else "fft",
    )
    (job_dir / protocol.JOB_FILE).write_text(job.model_dump_json(), encoding="utf-8")
    return job


def run_trainer(job_dir: Path, threads: int) -> tuple[protocol.Result, list[protocol.TrainerLine], float]:
    started = time.perf_counter()
    with (job_dir / protocol.LOG_FILE).open("ab") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "services.training.trainer_main", str(job_dir)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=child_env(threads),
            check=False,
        )
    wall = time.perf_counter() - started
    lines = [protocol.TrainerLine.model_validate_json(x) for x in proc.stdout.decode().splitlines() if x.strip()]
    result = lines[-1].result if lines else None
    if result is None or not result.ok:
        tail = (job_dir / protocol.LOG_FILE).read_text(errors="replace")[-2000:]
        raise SystemExit(f"trainer failed in {job_dir}: {result}\n{tail}")
    return result, lines, wall


def run_plain(base: Path, data: Path, out: Path, fast: bool, threads: int) -> dict[str, float]:
    script = out / "plain_trl.py"
    out.mkdir(parents=True, exist_ok=True)
    script.write_text(PLAIN_TRL, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), str(base), str(data), str(out / "run"), "fast" if fast else "plain"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(threads),
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"plain TRL script failed:\n{proc.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def losses(lines: list[protocol.TrainerLine]) -> list[float]:
    return [line.metric.value for line in lines if line.metric and line.metric.name == "train.loss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=300, help="teacher episodes (seeds 1000+) to generate")
    parser.add_argument("--data", type=Path, help="reuse chats an earlier run wrote (its teacher.jsonl)")
    parser.add_argument("--fft-examples", type=int, default=0, help="train the FFT on the first N (0: all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=50, help="Crafter prompts for the format check (seeds 0-49)")
    parser.add_argument("--throughput-examples", type=int, default=3000)
    parser.add_argument("--lora-examples", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-acceptance", action="store_true")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-trainer-", dir=OUT))
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg(),
        "threads": args.threads,
    }

    started = time.perf_counter()
    build = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from services.training.tiny_qwen3 import "
         "ensure_tiny_qwen3; print(ensure_tiny_qwen3(Path(sys.argv[1])))", str(work / "data")],
        capture_output=True, text=True, cwd=ROOT, env=child_env(args.threads), check=True,
    )  # fmt: skip
    base = Path(build.stdout.strip().splitlines()[-1])
    report["tiny_build_s_incl_imports"] = time.perf_counter() - started
    print(f"tiny-qwen3 built in {report['tiny_build_s_incl_imports']:.1f} s (process incl. imports): {base}")

    started = time.perf_counter()
    data = work / "teacher.jsonl"
    if args.data is not None:
        data.write_bytes(args.data.read_bytes())
        examples = sum(1 for line in data.read_text(encoding="utf-8").splitlines() if line.strip())
        report["data"] = {"reused": str(args.data), "examples": examples}
        print(f"{examples} teacher examples reused from {args.data}")
    else:
        seeds = range(TRAIN_SEED0, TRAIN_SEED0 + args.episodes)
        examples = write_chats_jsonl(data, crafter_chats(seeds))
        seconds = time.perf_counter() - started
        report["data"] = {"episodes": args.episodes, "examples": examples, "seconds": seconds}
        print(f"{examples} teacher examples from seeds {seeds.start}-{seeds.stop - 1} in {seconds:.0f} s")
    lines_all = data.read_text(encoding="utf-8").splitlines(keepends=True)

    if not args.skip_throughput:
        subset = work / "throughput.jsonl"
        subset.write_text("".join(lines_all[: args.throughput_examples]), encoding="utf-8")
        hp = {"n_epochs": 1, "per_device_batch": 32, "learning_rate": 2e-3, "warmup_ratio": 0.03,
              "sequence_length": MAX_LENGTH}  # fmt: skip
        rows: dict[str, list[float]] = {"ours": [], "plain_trl": [], "plain_trl_labelled_loss": []}
        for round_ in range(2):
            rows["plain_trl"].append(
                run_plain(base, subset, work / f"plain{round_}", False, args.threads)["tokens_per_second"]
            )
            job_dir = work / f"tp{round_}"
            make_job(job_dir, base, subset, "fft", hp)
            result, _, _ = run_trainer(job_dir, args.threads)
            rows["ours"].append(result.throughput["tokens_per_second"])
            fast = run_plain(base, subset, work / f"fast{round_}", True, args.threads)
            rows["plain_trl_labelled_loss"].append(fast["tokens_per_second"])
            print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.0f} tok/s" for k, v in rows.items()))
        best = {k: max(v) for k, v in rows.items()}
        report["throughput"] = {
            "examples": min(args.throughput_examples, examples),
            "tokens_per_second": rows,
            "best": best,
            "overhead_vs_plain_trl": 1 - best["ours"] / best["plain_trl"],
            "overhead_vs_plain_trl_same_loss": 1 - best["ours"] / best["plain_trl_labelled_loss"],
        }

    if not args.skip_acceptance:
        from services.training.format_check import crafter_prompts, tool_call_rate

        prompts = crafter_prompts(range(0, args.prompts), per_seed=1) if args.prompts <= 50 else []
        job_dir = work / "fft"
        if args.fft_examples:
            data = work / "fft.jsonl"
            data.write_text("".join(lines_all[: args.fft_examples]), encoding="utf-8")
            examples = min(args.fft_examples, examples)
        hp = {"n_epochs": args.epochs, "per_device_batch": 32, "learning_rate": 2e-3, "warmup_ratio": 0.03,
              "sequence_length": MAX_LENGTH}  # fmt: skip
        make_job(job_dir, base, data, "fft", hp)
        result, lines, wall = run_trainer(job_dir, args.threads)
        curve = losses(lines)
        trained = tool_call_rate(Path(result.output_dir or ""), prompts)
        untrained = tool_call_rate(base, prompts)
        report["fft"] = {
            "examples": examples,
            "epochs": args.epochs,
            "wall_s": wall,
            "throughput": result.throughput,
            "first_loss": curve[0],
            "last_loss": curve[-1],
            "loss_drop": 1 - curve[-1] / curve[0],
            "prompts": len(prompts),
            "parseable_trained": trained.rate,
            "parseable_untrained": untrained.rate,
            "examples_trained": trained.examples[:3],
            "examples_untrained": untrained.examples[:2],
        }
        print(
            f"FFT {examples} examples x {args.epochs} epochs in {wall:.0f} s: loss {curve[0]:.3f} -> {curve[-1]:.3f} "
            f"({report['fft']['loss_drop']:.0%} drop); parseable calls {trained.rate:.0%} trained, "
            f"{untrained.rate:.0%} untrained ({len(prompts)} prompts)"
        )
        lora_data = work / "lora.jsonl"
        lora_data.write_text("".join(lines_all[: args.lora_examples]), encoding="utf-8")
        job_dir = work / "lora"
        hp = {"n_epochs": 1, "per_device_batch": 32, "learning_rate": 5e-3, "sequence_length": MAX_LENGTH}
        make_job(job_dir, base, lora_data, "peft", hp)
        result, lines, wall = run_trainer(job_dir, args.threads)
        curve = losses(lines)
        lora_rate = tool_call_rate(Path(result.output_dir or ""), prompts)
        report["lora"] = {
            "examples": min(args.lora_examples, examples),
            "wall_s": wall,
            "throughput": result.throughput,
            "first_loss": curve[0],
            "last_loss": curve[-1],
            "parseable": lora_rate.rate,
            "examples_answers": lora_rate.examples[:3],
        }
        print(
            f"LoRA r16 {report['lora']['examples']} examples in {wall:.0f} s: "
            f"loss {curve[0]:.3f} -> {curve[-1]:.3f}, parseable {lora_rate.rate:.0%}"
        )

    report["load_after"] = os.getloadavg()
    if "throughput" in report:
        t = report["throughput"]
        print(
            "throughput (best of 2): ours {ours:.0f}, plain TRL {plain_trl:.0f}, plain TRL + labelled loss "
            "{plain_trl_labelled_loss:.0f} tokens/s".format(**t["best"])
        )
        print(
            f"overhead vs plain TRL {t['overhead_vs_plain_trl']:+.1%}, vs the same loss "
            f"{t['overhead_vs_plain_trl_same_loss']:+.1%} (target <= 10 %)"
        )
    (OUT / "bench_trainer.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"load {report['load_before'][0]:.1f} -> {report['load_after'][0]:.1f}; report in {OUT / 'bench_trainer.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
