"""The Jobs pane in the registry: its keys and help (the pane is built on first use).

Its keys work wherever the focus is while the pane is shown (bound by the app); the pane's
``check_action`` hides the ones that do not apply to the job under the cursor (c for a finished
job, y before there is a model, e while the Eval pane is not built).
"""

from __future__ import annotations

from textual.binding import Binding

from tui.app.pane_spec import Command, KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="jobs",
    title="Jobs",
    summary="Train on a Synth learning-API backend and watch the jobs.",
    help=(
        "Training jobs on the chosen backend (local: sft-studio's own, started on demand; synth: "
        "BACKEND_BASE_URL with SYNTH_API_KEY from the environment or ./.env). The header names the backend and "
        "where its key came from (never the key). The table merges the backend's jobs with those submitted from "
        "sft-studio (remembered locally: reopening the app lists them and resumes polling); it polls only while "
        "the pane is shown. Below (at 80x24: Enter opens it, Escape goes back) the job under the cursor: status "
        "timeline, progress with ETA, learning rate, tokens/s, the train and validation loss chart and the "
        "event log. n submits a config on an exported dataset after showing the exact payload; c cancels "
        "(asks first); y copies the fine-tuned model id; l filters the log by level; b switches backend."
    ),
    factory=lazy_pane("tui.panes.jobs.pane", "JobsPane", with_db=False),
    keys=(
        Binding("n", "new_job", "New job", tooltip="Submit a config on an exported dataset", id="jobs.new"),
        Binding("r", "refresh", "Refresh", tooltip="Poll the backend now", id="jobs.refresh"),
        Binding(
            "c", "cancel_job", "Cancel job", tooltip="Cancel the job under the cursor (asks first)", id="jobs.cancel"
        ),
        Binding("y", "copy_model", "Copy model", tooltip="Copy the fine-tuned model id", id="jobs.copy"),
        Binding("e", "evaluate", "Evaluate", tooltip="Evaluate the fine-tuned model (Eval pane)", id="jobs.eval"),
        Binding("l", "log_level", "Log level", tooltip="Events: all / warnings+ / errors", id="jobs.level"),
        Binding("b", "switch_backend", "Backend", tooltip="Switch backend: local / synth", id="jobs.backend"),
    ),
    focus_keys=(Binding("escape", "back", "Back to the list", show=False, id="jobs.back"),),
    commands=(
        Command("Jobs: new job", "Submit a config on an exported dataset (shows the payload first)", "jobs.new"),
        Command("Jobs: refresh", "Poll the backend now", "jobs.refresh"),
        Command("Jobs: cancel job", "Cancel the job under the cursor (asks first)", "jobs.cancel"),
        Command("Jobs: copy model id", "Copy the fine-tuned model id of the job under the cursor", "jobs.copy"),
        Command("Jobs: switch backend", "Show the jobs of the next backend (local / synth)", "jobs.backend"),
    ),
    key_help=(
        KeyHelp(("jobs.new",), "Jobs: submit a job (config, dataset, --examples, backend; payload shown first)"),
        KeyHelp(("jobs.refresh", "jobs.backend"), "Jobs: poll now / switch backend (local, synth)"),
        KeyHelp(("jobs.cancel", "jobs.copy"), "Jobs: cancel the job (asks first) / copy its model id"),
        KeyHelp(("jobs.level", "jobs.back"), "Jobs: event log level filter / back from the detail (80x24)"),
    ),
)
