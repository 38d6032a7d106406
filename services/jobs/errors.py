"""What can go wrong talking to a learning-API backend, as exceptions a user can read.

Every error carries ``message`` (one sentence: what failed) and ``hint`` (what to do, or None). The
reference CLI swallows these (synth_backend_api.md §14 defect 12); we raise them by kind so the CLI
maps them to exit codes and the Jobs pane to a line of text. Messages never hold the API key: the
client passes every text through :func:`services.common.secrets.redact` before it gets here, and
``__repr__`` shows only the class and the (already masked) message.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.common.secrets import redact


class BackendError(Exception):
    """A backend call failed; ``message`` says what, ``hint`` what to do."""

    def __init__(self, message: str, hint: str | None = None, *, secrets: Iterable[str | None] = ()) -> None:
        keys = list(secrets)
        self.message = redact(message, keys)
        self.hint = redact(hint, keys) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BackendUnreachable(BackendError):
    """No connection (refused, DNS, dropped before an answer)."""


class BackendTimeout(BackendError):
    """The backend did not answer in time."""


class BackendAuthError(BackendError):
    """401/403: the key is wrong, missing or not allowed. Polling stops at once on this."""


class BackendNotFound(BackendError):
    """404: no such job, file or model (or no such route)."""


class BackendConflict(BackendError):
    """409: e.g. cancelling a job that already finished."""


class BackendBadResponse(BackendError):
    """The answer is not the JSON the protocol promises (an HTML page, garbage, a wrong shape)."""


class BackendServerError(BackendError):
    """5xx: the backend failed; retried for idempotent calls."""


class BackendRejected(BackendError):
    """Another 4xx: the backend refused the request; ``message`` holds its detail."""

    def __init__(
        self, message: str, hint: str | None = None, *, status: int = 400, secrets: Iterable[str | None] = ()
    ) -> None:
        super().__init__(message, hint, secrets=secrets)
        self.status = status


class UploadedButNotCreated(BackendError):
    """The training (and validation) file uploaded but the job could not be created: the files exist
    on the backend; the message names their ids so nothing is left unexplained."""

    def __init__(self, cause: BackendError, file_ids: list[str]) -> None:
        ids = ", ".join(file_ids)
        super().__init__(
            f"uploaded {ids} but creating the job failed: {cause.message}",
            cause.hint or "Fix the cause and submit again (the file is uploaded again; no job was created).",
        )
        self.cause = cause
        self.file_ids = file_ids


class SubmissionRefused(BackendError):
    """Our own checks (config, dataset, model) refused the submission; nothing was sent."""


class EnvFileError(BackendError):
    """An ``--env-file`` that does not exist or cannot be read."""


class JobStoreUnusable(BackendError):
    """The local job store (``runs.db``) cannot be used: written by a newer sft-studio, or not a
    database. Nothing in it is changed; the jobs on the backend itself are still reachable."""
