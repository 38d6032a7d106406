"""The trainer child: ``python -m services.training.trainer_main JOB_DIR``.

One process per job (crash isolation, clean cancel: the server kills it). It reads
``JOB_DIR/job.json`` (protocol.TrainerJob), trains with TRL (services/training/sft_trainer.py) and
reports on stdout, one protocol.TrainerLine per line, ending with a Result. Its own stdout is kept
for those lines only: file descriptor 1 is pointed at stderr (``trainer.log``, opened by the server)
before any library loads, so a library's print can never corrupt the stream. Any failure (an
unloadable base, bad data, out of memory, a full disk) ends with ``Result(ok=False, error=...)`` and
exit code 1; the traceback goes to the log. The hub is never contacted: the server hands over a
local folder, and ``HF_HUB_OFFLINE`` is set before transformers loads.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from services.training import protocol
from services.training.train_settings import TrainerFailure

Emit = Callable[[protocol.TrainerLine], None]

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class LineWriter:
    """Writes protocol lines to the stream the server reads, one flushed JSON object per line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, line: protocol.TrainerLine) -> None:
        self.stream.write(line.model_dump_json(exclude_none=True) + "\n")
        self.stream.flush()


def _protocol_stream() -> IO[str]:
    """A private copy of stdout for protocol lines; fd 1 then points at stderr (the log)."""
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return stream


def _warn(emit: Emit, type_: str, message: str, data: dict[str, Any]) -> None:
    emit(protocol.TrainerLine(event=protocol.Event(type=type_, level="warning", message=message, data=data)))


def _max_positions(base_path: Path) -> int:
    """The base model's context length from its config.json (0 when unknown)."""
    try:
        config = json.loads((base_path / "config.json").read_text(encoding="utf-8"))
        return int(config.get("max_position_embeddings") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _prepare_base(job: protocol.TrainerJob) -> Path:
    """The base model's folder, building the built-in model when it is the one asked for and missing;
    TrainerFailure before any heavy import when there is nothing to load."""
    from services.training.tiny_qwen3 import TinyModelError, ensure_tiny_qwen3, is_built, tiny_qwen3_dir

    base_path = Path(job.base_model_path)
    if job.effective_base == protocol.TINY_QWEN3 and not is_built(base_path):
        data_dir = base_path.parent.parent
        if tiny_qwen3_dir(data_dir) == base_path:  # the built-in model's usual place: build it now
            try:
                ensure_tiny_qwen3(data_dir)
            except TinyModelError as exc:
                raise TrainerFailure(str(exc)) from None
    if not (base_path / "config.json").is_file():
        raise TrainerFailure(f"cannot load base model {job.effective_base}: {base_path} holds no config.json")
    return base_path


def run_job(job: protocol.TrainerJob, job_dir: Path, emit: Emit) -> protocol.Result:
    """Train ``job`` and save its outputs; raises TrainerFailure (or anything else) on failure.

    The checks that need no torch (data, base folder) run first, so a bad job fails in a second.
    """
    from services.training.sft_data import DataError, read_chat_rows

    try:
        train_rows, skipped = read_chat_rows(job_dir / protocol.TRAIN_FILE)
        eval_rows = read_chat_rows(job_dir / protocol.VALIDATION_FILE)[0] if job.has_validation else None
    except DataError as exc:
        raise TrainerFailure(f"bad training data: {exc}") from None
    base_path = _prepare_base(job)
    from services.training.train_settings import resolve

    try:  # the values are checked before torch loads (the device only changes what gets skipped)
        resolve(job, cuda=False, max_positions=_max_positions(base_path))
    except ValueError as exc:
        raise TrainerFailure(str(exc)) from None

    import torch

    from services.training import sft_trainer, train_settings

    threads = os.environ.get("SFT_STUDIO_TORCH_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))
    cuda = torch.cuda.is_available()
    try:
        import bitsandbytes  # type: ignore[import-not-found]  # noqa: F401

        has_bnb = True
    except ImportError:
        has_bnb = False
    try:
        settings = train_settings.resolve(
            job,
            cuda=cuda,
            bf16_supported=cuda and torch.cuda.is_bf16_supported(),
            bitsandbytes=has_bnb,
            max_positions=_max_positions(base_path),
        )
    except ValueError as exc:
        raise TrainerFailure(str(exc)) from None
    for notice in settings.notices:
        _warn(emit, notice.type, notice.message, notice.data)
    if skipped:
        _warn(
            emit,
            "sft.data.skipped",
            f"{skipped} example(s) without an assistant turn skipped",
            {"skipped": skipped, "kept": len(train_rows)},
        )
    from transformers import set_seed

    set_seed(settings.seed)
    model, tokenizer = sft_trainer.load_base(job, settings)
    info = {
        "job_id": job.job_id,
        "base_model": job.effective_base,
        "requested_base": job.requested_base,
        "stand_in": job.stand_in,
        "train_kind": job.train_kind,
        "lora": settings.lora.model_dump() if settings.lora else None,
        "examples": len(train_rows),
        "validation_examples": len(eval_rows or []),
        "epochs": settings.n_epochs,
        "per_device_batch": settings.per_device_batch,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "learning_rate": settings.learning_rate,
        "sequence_length": settings.sequence_length,
        "device": sft_trainer._device_summary(settings),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    scratch = job_dir / ".trainer-scratch"  # the Trainer's output_dir (nothing is saved there)
    try:
        trainer, callback = sft_trainer.build_trainer(
            job, settings, model, tokenizer, train_rows, eval_rows, scratch, emit, info
        )
        return _train_and_save(job, job_dir, trainer, callback, tokenizer, eval_rows, emit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train_and_save(
    job: protocol.TrainerJob,
    job_dir: Path,
    trainer: Any,
    callback: Any,
    tokenizer: Any,
    eval_rows: list[dict[str, Any]] | None,
    emit: Emit,
) -> protocol.Result:
    """Run the configured trainer, report throughput and validation, save the outputs atomically."""
    from services.training import sft_trainer

    started = time.perf_counter()
    output = trainer.train()
    runtime = max(time.perf_counter() - started, 1e-9)
    throughput = {
        "tokens_per_second": trainer.tokens_seen / runtime,
        "samples_per_second": trainer.samples_seen / runtime,
    }
    step = trainer.state.global_step
    for key, value in throughput.items():
        metric = protocol.Metric(name=f"train.{key}", value=value, step=step, epoch=trainer.state.epoch)
        emit(protocol.TrainerLine(metric=metric))
    final_loss = callback.last_loss if callback.last_loss is not None else float(output.training_loss)
    summary: dict[str, Any] = {
        "final_loss": final_loss,
        "first_loss": callback.first_loss,
        "steps": step,
        "throughput": throughput,
        "runtime_s": runtime,
        "tokens": trainer.tokens_seen,
    }
    emit(
        protocol.TrainerLine(
            event=protocol.Event(
                type="sft.training.finish",
                message=f"Trained {step} steps in {runtime:.1f} s: {throughput['tokens_per_second']:.0f} tokens/s, "
                f"final loss {final_loss:.4f}",
                data=summary,
            )
        )
    )
    if eval_rows:
        emit(protocol.TrainerLine(status=protocol.Status(status="evaluating")))
        if callback.last_eval_step != step or callback.last_val_loss is None:
            trainer.evaluate()
        val_loss = callback.last_val_loss
        summary["val_loss"] = val_loss
        emit(
            protocol.TrainerLine(
                event=protocol.Event(
                    type="sft.validation.summary",
                    message=f"Validation loss {val_loss:.4f} on {len(eval_rows)} examples",
                    data={"val_loss": val_loss, "examples": len(eval_rows), "step": step},
                )
            )
        )
    output_dir = sft_trainer.save_outputs(trainer, tokenizer, job, job_dir, summary)
    return protocol.Result(
        ok=True, output_dir=str(output_dir), train_kind=job.train_kind, throughput=throughput, final_loss=final_loss
    )


def _error_line(exc: BaseException) -> str:
    """The job's one-line error for an unexpected exception (out of memory named as such)."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else name
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError":
        return f"out of memory while training: {text}"
    return f"{name}: {text}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.training.trainer_main JOB_DIR", file=sys.stderr)
        return 2
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    os.environ["HF_HUB_OFFLINE"] = "1"
    emit = LineWriter(_protocol_stream())
    job_dir = Path(args[0])
    try:
        job = protocol.TrainerJob.model_validate_json((job_dir / protocol.JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        emit(protocol.TrainerLine(result=protocol.Result(ok=False, error=f"unreadable job file: {exc}")))
        return 1
    try:
        result = run_job(job, job_dir, emit)
    except BaseException as exc:  # anything: the server needs a Result, the log the traceback
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        traceback.print_exc(file=sys.stderr)
        error = str(exc) if isinstance(exc, TrainerFailure) else _error_line(exc)
        emit(protocol.TrainerLine(result=protocol.Result(ok=False, error=error, train_kind=job.train_kind)))
        return 1
    emit(protocol.TrainerLine(result=result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
