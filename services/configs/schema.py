"""The SFT config as synth-ai 0.2.23 types it, so pydantic coerces and words errors the same way.

The reference CLI validates a config with pydantic models whose fields are typed exactly like the
ones below (``synth_ai.api.train.configs.sft``, synth_backend_api.md §2). Declaring the same types
makes our lax-mode coercions (``true`` → 1, ``"2"`` → 2) and our error locations and messages
identical to the CLI's, which is what lets a user trust that a config we accept will not be
refused at submit time. Every model keeps unknown keys (``extra="allow"``), as the reference does:
unknown keys never error there, they are reported by us as warnings instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AlgorithmSection(_Open):
    type: str
    method: str
    variety: str


class JobSection(_Open):
    model: str
    data: str | None = None
    data_path: str | None = None
    poll_seconds: int | None = None


class TopologySection(_Open):
    type: str | None = None
    gpus_for_vllm: int | None = None
    gpus_for_training: int | None = None
    gpus_for_ref: int | None = None
    tensor_parallel: int | None = None
    reference_placement: str | None = None


class ComputeSection(_Open):
    gpu_type: str
    gpu_count: int
    nodes: int | None = None
    topology: TopologySection | None = None


class DataSection(_Open):
    topology: dict[str, Any] | None = None
    validation_path: str | None = None


class ValidationSection(_Open):
    enabled: bool | None = None
    evaluation_strategy: str | None = None
    eval_steps: int | None = None
    save_best_model_at_end: bool | None = None
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None


class LoraSection(_Open):
    r: int | None = None
    alpha: int | None = None
    dropout: float | None = None
    target_modules: list[str] | None = None


class TrainingSection(_Open):
    mode: str | None = None
    use_qlora: bool | None = None
    validation: ValidationSection | None = None
    lora: LoraSection | None = None


class ParallelismSection(_Open):
    use_deepspeed: bool | None = None
    deepspeed_stage: int | None = None
    fsdp: bool | None = None
    bf16: bool | None = None
    fp16: bool | None = None
    activation_checkpointing: bool | None = None
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None


class HyperparametersSection(_Open):
    n_epochs: int = 1
    batch_size: int | None = None
    global_batch: int | None = None
    per_device_batch: int | None = None
    gradient_accumulation_steps: int | None = None
    sequence_length: int | None = None
    learning_rate: float | None = None
    warmup_ratio: float | None = None
    train_kind: str | None = None
    weight_decay: float | None = None
    parallelism: ParallelismSection | None = None


class PolicySection(_Open):
    """Ignored by SFT, yet validated by the CLI: a half-filled ``[policy]`` breaks a run."""

    model_name: str | None = None
    source: str | None = None
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int | None = None
    repetition_penalty: float = 1.0
    stop_sequences: list[str] | None = None
    trainer_mode: str
    label: str
    inference_url: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> PolicySection:
        if not (bool(self.model_name) ^ bool(self.source)):
            raise ValueError("Must set exactly one: [policy].model_name OR [policy].source")
        return self


class SftConfigModel(_Open):
    algorithm: AlgorithmSection | None = None
    job: JobSection
    policy: PolicySection | None = None
    compute: ComputeSection | None = None
    data: DataSection | None = None
    training: TrainingSection | None = None
    hyperparameters: HyperparametersSection = Field(default_factory=HyperparametersSection)
    lora: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None

    def dump(self) -> dict[str, Any]:
        """The mapping the reference builds its payload from (declared fields first, then extras)."""
        return self.model_dump(mode="python", exclude_none=True)
