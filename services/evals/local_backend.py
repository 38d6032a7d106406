"""``--backend local``: the local training backend's OpenAI-compatible ``/v1`` and its key.

The backend serves its base model (``sft-studio/tiny-qwen3``) and every fine-tuned id
(``fft:sft-studio/tiny-qwen3:job_…``) on ``/v1/models`` and ``/v1/chat/completions``; the launcher's
preflight lists them when a model id is not among them. A running backend of this data dir is
reused; otherwise one is started detached, exactly as the app and the job client start it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.evals.settings import EvalError, EvalSettings


def local_backend_endpoint(root: Path | None = None) -> tuple[str, str]:
    """(``http://127.0.0.1:PORT/v1``, key) of the data dir's backend, started when none runs."""
    from services.training.server.lifecycle import BackendError, ensure_local_backend

    try:
        url, key = ensure_local_backend(root)
    except BackendError as exc:
        raise EvalError(f"The local backend is not available: {exc}") from None
    return url.rstrip("/") + "/v1", key


def with_local_backend(settings: EvalSettings, root: Path | None = None) -> EvalSettings:
    """``settings`` pointed at the local backend (URL and key), when ``backend == "local"``."""
    if settings.backend != "local":
        return settings
    if settings.policy != "openai":
        raise EvalError("--backend local serves models: use it with --policy openai (the default) and --model.")
    if settings.inference_url:
        raise EvalError("Give either --backend local or --inference-url, not both.")
    url, key = local_backend_endpoint(root)
    return settings.model_copy(update={"inference_url": url, "api_key": SecretStr(key)})
