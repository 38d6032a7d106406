"""The job-create body, as synth-ai 0.2.23 POSTs it, plus sft-studio's labelled beyond-CLI extras.

After the uploads the CLI sets ``training_file_id`` (the key already sits last, so it stays last)
and, only when a validation file uploaded, ``metadata.effective_config.data.validation_files``.
sft-studio's payload is the same body with the LoRA settings the CLI drops appended to
``hyperparameters``; ``cli_exact=True`` gives the CLI's body byte for byte.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from services.configs.check import ConfigReport

TRAINING_PLACEHOLDER = "file_<training>"
VALIDATION_PLACEHOLDER = "file_<validation>"


class PayloadUnavailable(ValueError):
    """The config does not pass the CLI's checks, so there is no payload to show."""


def job_payload(
    report: ConfigReport,
    *,
    training_file_id: str = TRAINING_PLACEHOLDER,
    validation_file_id: str | None = None,
    cli_exact: bool = False,
) -> dict[str, Any]:
    if report.payload is None:
        raise PayloadUnavailable(report.cli_error or "the config has errors")
    payload = copy.deepcopy(report.payload)
    if not cli_exact and report.extras:
        payload["hyperparameters"].update(report.extras)
    payload["training_file_id"] = training_file_id
    if validation_file_id:
        data = payload.setdefault("metadata", {}).setdefault("effective_config", {}).setdefault("data", {})
        data["validation_files"] = [validation_file_id]
    return payload


def preview_payload(report: ConfigReport, *, cli_exact: bool = False) -> dict[str, Any]:
    """The body with placeholder file ids (a validation id only when the validation file exists)."""
    return job_payload(
        report,
        validation_file_id=VALIDATION_PLACEHOLDER if report.validation_file else None,
        cli_exact=cli_exact,
    )


def payload_json(payload: dict[str, Any]) -> str:
    """Pretty JSON in the payload's own key order (what the wire carries, indented)."""
    return json.dumps(payload, indent=2, ensure_ascii=False)
