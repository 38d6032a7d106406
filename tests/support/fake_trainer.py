"""A stand-in for ``python -m services.training.trainer_main JOB_DIR`` that speaks the protocol
(services/training/protocol.py) without torch, so the server's tests run in milliseconds.

What it does is read from the job payload's ``metadata.fake_trainer`` (absent: succeed):

* ``mode``: ``ok`` (progress, metrics, a saved "model", a result), ``fail`` (a result with ok=false),
  ``crash`` (a traceback on stderr, exit 3, no result), ``hang`` (progress, then sleeps until killed),
  ``nosave`` (reports success but saves nothing: a half-written model), ``oom`` (SIGKILLs itself),
  ``stream`` (after the steps, one more step every ``stream_delay`` seconds until killed: a job that
  keeps writing while a benchmark polls it);
* ``steps`` (default 4) and ``delay`` (seconds between steps, default 0).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def emit(**line: object) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    spec = (job["payload"].get("metadata") or {}).get("fake_trainer") or {}
    mode = spec.get("mode", "ok")
    steps = int(spec.get("steps", 4))
    delay = float(spec.get("delay", 0.0))
    print(f"fake trainer for {job['job_id']} on {job['effective_base']} ({mode})", file=sys.stderr, flush=True)
    if mode == "crash":
        print("Traceback (most recent call last):\nRuntimeError: fake trainer crashed", file=sys.stderr, flush=True)
        return 3
    if mode == "oom":
        os.kill(os.getpid(), signal.SIGKILL)
    emit(status={"status": "training"})
    emit(event={"type": "sft.training.started", "message": "Training started", "data": {"total_steps": steps}})
    loss = 2.0
    step = 0
    for step in range(1, steps + 1):
        loss *= 0.8
        emit(
            event={
                "type": "sft.progress",
                "data": {"step": step, "epoch": step / steps, "loss": loss, "total_steps": steps},
            }
        )
        emit(metric={"name": "train.loss", "value": loss, "step": step, "epoch": step / steps})
        emit(metric={"name": "train.learning_rate", "value": 1e-4, "step": step, "epoch": step / steps})
        if delay:
            time.sleep(delay)
    if mode == "hang":
        time.sleep(3600)
    while mode == "stream":
        step += 1
        emit(event={"type": "sft.progress", "data": {"step": step, "epoch": 1.0, "loss": loss, "total_steps": step}})
        emit(metric={"name": "train.loss", "value": loss, "step": step, "epoch": 1.0})
        time.sleep(float(spec.get("stream_delay", 0.1)))
    if mode == "fail":
        print("torch.OutOfMemoryError: fake", file=sys.stderr, flush=True)
        emit(result={"ok": False, "error": "out of memory while saving the model"})
        return 1
    emit(status={"status": "evaluating"})
    emit(event={"type": "sft.validation.summary", "data": {"val.loss": loss}})
    emit(metric={"name": "val.loss", "value": loss, "step": steps, "phase": "eval"})
    output = job_dir / "output"
    output.mkdir(exist_ok=True)
    if mode != "nosave":
        (output / "adapter_config.json").write_text(json.dumps({"base": job["effective_base"]}), encoding="utf-8")
    emit(
        result={
            "ok": True,
            "output_dir": str(output),
            "train_kind": job["train_kind"],
            "throughput": {"tokens_per_second": 1234.5, "samples_per_second": 9.5},
            "final_loss": loss,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
