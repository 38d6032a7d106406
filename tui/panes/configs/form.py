"""The config form: one typed widget per known key, grouped by TOML section, with help and findings.

Numbers and text are Inputs (a number keeps the spelling you type, e.g. ``5e-6``), enums are
Selects, booleans are Switches. Blank means "not set" (the key is removed, the default applies).
The form never owns the config: it shows the document's values and posts ``FieldEdited`` with a
TOML value (or None to remove the key); the pane applies it to the document and re-checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tomlkit
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch
from tomlkit.items import Item

from services.configs.document import literal
from services.configs.field_values import parse_field
from services.configs.fields import BY_PATH, FIELDS, SECTIONS, Fate, FieldSpec, Kind, fields_of
from services.configs.report import Finding, Level
from services.configs.toml_load import TomlError, load_document

SECTION_HELP = {
    "algorithm": "what kind of job (checked by the CLI, not sent)",
    "job": "base model and dataset",
    "compute": "GPUs; the backend requires gpu_type",
    "data": "topology and validation file",
    "training": "LoRA / QLoRA / full switches (sent in effective_config)",
    "training.validation": "evaluation during training",
    "training.lora": "LoRA shape: dropped by synth-ai 0.2.23, sent by sft-studio",
    "hyperparameters": "sent in the payload (whitelist)",
    "hyperparameters.parallelism": "sent verbatim",
}
FATE_TEXT = {
    Fate.SENT: "sent",
    Fate.LABEL: "checked, not sent",
    Fate.LOCAL: "used locally",
    Fate.EXTRA: "sft-studio extra",
    Fate.DROPPED: "dropped by synth-ai",
}
UNSET = "not set"


def widget_id(path: str) -> str:
    return "cfg-" + path.replace(".", "--")


def path_of(widget_id_: str) -> str:
    return widget_id_.removeprefix("cfg-").replace("--", ".")


def _display(value: Any, item: Any, spec: FieldSpec) -> str:
    """The text an Input shows for a stored value (numbers keep the file's spelling)."""
    if value is None:
        return ""
    if spec.kind is Kind.LIST and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str) and spec.kind in (Kind.STR, Kind.CHOICE):
        return value
    if isinstance(item, Item):
        return item.as_string().strip()
    return str(value)


class ConfigForm(VerticalScroll):
    """Every known key, section by section; the focused field is never rewritten under the cursor."""

    DEFAULT_CSS = """
    ConfigForm { height: 1fr; padding: 0 1; }
    ConfigForm .cfg-section { margin-top: 1; text-style: bold; color: $text-primary; height: 1; }
    ConfigForm .row { height: auto; }
    ConfigForm .key { width: 28; }
    ConfigForm Input { width: 1fr; }
    ConfigForm Select { width: 1fr; }
    ConfigForm Switch { width: auto; height: 1; border: none; padding: 0; }
    ConfigForm .switch-state { width: 1fr; color: $text-muted; padding-left: 1; }
    ConfigForm .help { color: $text-muted; padding-left: 28; height: auto; }
    ConfigForm .help.-error { color: $text-error; text-style: bold; }
    ConfigForm .help.-warning { color: $text-warning; }
    ConfigForm .help.-pending { color: $text-accent; }
    ConfigForm #cfg-form-lock { display: none; height: auto; color: $text-error; text-style: bold; margin-top: 1; }
    ConfigForm.-locked #cfg-form-lock { display: block; }
    """

    can_focus = False

    class FieldEdited(Message):
        """A field changed: ``value`` None removes the key."""

        def __init__(self, path: str, value: Item | None) -> None:
            super().__init__()
            self.path = path
            self.value = value

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.local_errors: dict[str, str] = {}
        self.findings: dict[str, Finding] = {}
        #: A field cleared while it has the focus: the key is removed when it is left, on Enter, or
        #: when the pane saves (``pending_removal``), not at once (re-typing would move the key).
        self.pending: str | None = None
        #: Why the form is read-only now (the raw TOML does not parse), or None.
        self.locked: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="cfg-form-lock", markup=False)
        for section in SECTIONS:
            yield Static(f"[{section}]  · {SECTION_HELP[section]}", classes="cfg-section", markup=False)
            for spec in fields_of(section):
                with Horizontal(classes="row"):
                    yield Label(spec.key, classes="key")
                    yield from self._widget(spec)
                yield Static(self._help(spec), id=widget_id(spec.path) + "-help", classes="help", markup=False)

    def _widget(self, spec: FieldSpec) -> Iterable[Widget]:
        wid = widget_id(spec.path)
        if spec.kind is Kind.BOOL:
            yield Switch(id=wid, animate=False)
            yield Static(UNSET, id=wid + "-state", classes="switch-state")
        elif spec.kind is Kind.CHOICE:
            yield Select([(c, c) for c in spec.choices], id=wid, prompt=UNSET, allow_blank=True, compact=True)
        else:
            yield Input(id=wid, compact=True, placeholder=UNSET, select_on_focus=False)

    @staticmethod
    def _help(spec: FieldSpec) -> str:
        return f"{spec.help}  [{FATE_TEXT[spec.fate]}]"

    # ---------------------------------------------------------------------------------- values

    def show_document(self, text: str) -> None:
        """Show the values of ``text`` (silently: no FieldEdited); invalid TOML leaves the form as is."""
        try:
            doc = load_document(text)
        except TomlError:
            return
        focused = self.screen.focused if self.is_mounted else None
        with self.prevent(Input.Changed, Select.Changed, Switch.Changed):
            for spec in FIELDS:
                widget = self.query_one(f"#{widget_id(spec.path)}")
                if widget is focused:
                    continue
                item, value = _lookup(doc, spec.path)
                self._set_widget(widget, spec, item, value)

    def _set_widget(self, widget: Widget, spec: FieldSpec, item: Any, value: Any) -> None:
        if isinstance(widget, Switch):
            widget.value = value is True
            state = self.query_one(f"#{widget.id}-state", Static)
            state.update(UNSET + " (default)" if value is None else toml_spelling(value))
        elif isinstance(widget, Select):
            text = None if value is None else str(value)
            if text is not None and text not in spec.choices:
                widget.set_options([(c, c) for c in (*spec.choices, text)])
            widget.value = Select.NULL if text is None else text
        elif isinstance(widget, Input):
            shown = _display(value, item, spec)
            if widget.value != shown:
                widget.value = shown
                widget.cursor_position = len(shown)
        self.local_errors.pop(spec.path, None)

    def show_findings(self, findings: Iterable[Finding]) -> None:
        """The worst finding per field replaces its help line until fixed."""
        rank = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
        best: dict[str, Finding] = {}
        for finding in findings:
            if finding.level is Level.INFO:
                continue
            current = best.get(finding.path)
            if current is None or rank[finding.level] < rank[current.level]:
                best[finding.path] = finding
        self.findings = best
        self._refresh_help()

    def _refresh_help(self) -> None:
        for spec in FIELDS:
            help_line = self.query_one(f"#{widget_id(spec.path)}-help", Static)
            local = self.local_errors.get(spec.path)
            finding = self.findings.get(spec.path)
            help_line.set_class(spec.path == self.pending, "-pending")
            level: Level | None = None
            if spec.path == self.pending:
                help_line.update("blank: the key is removed (its default applies) when you leave the field or save")
            elif local:
                help_line.update(f"✗ {local} (not applied)")
                level = Level.ERROR
            elif finding:
                mark = "✗" if finding.level is Level.ERROR else "!"
                help_line.update(f"{mark} {finding.message}")
                level = finding.level
            else:
                help_line.update(self._help(spec))
            help_line.set_class(level is Level.ERROR, "-error")
            help_line.set_class(level is Level.WARNING, "-warning")

    def focus_field(self, path: str) -> bool:
        try:
            widget = self.query_one(f"#{widget_id(path)}")
        except NoMatches:
            return False
        widget.focus()
        self.scroll_to_widget(widget, animate=False)
        return True

    # --------------------------------------------------------------------------------- edits

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id is None:
            return
        path = path_of(event.input.id)
        if not event.value.strip() and event.input.has_focus:
            # Blank while typing is a pending removal: removing now would move the key to the
            # end of its table when the next keystroke re-adds it. Applied on Enter, on leaving,
            # or by the pane before it saves; the old value's error no longer applies meanwhile.
            self.pending = path
            self.local_errors.pop(path, None)
            self._refresh_help()
            return
        self._apply_input(path, event.value)

    def pending_removal(self) -> str | None:
        """The key of a field cleared and not applied yet (now counted as applied), or None."""
        path, self.pending = self.pending, None
        if path is None:
            return None
        try:
            field = self.query_one(f"#{widget_id(path)}", Input)
        except NoMatches:
            return None
        return path if not field.value.strip() else None

    def set_locked(self, reason: str | None) -> None:
        """Read-only while the raw TOML does not parse (edits could not be applied): every field is
        disabled and ``reason`` shows at the top; None unlocks."""
        if reason == self.locked:
            return
        was_locked, self.locked = self.locked is not None, reason
        self.query_one("#cfg-form-lock", Static).update(reason or "")
        self.set_class(reason is not None, "-locked")
        if was_locked != (reason is not None):
            for spec in FIELDS:
                self.query_one(f"#{widget_id(spec.path)}").disabled = reason is not None

    def _apply_input(self, path: str, text: str) -> None:
        if self.pending == path:
            self.pending = None
        spec = _spec(path)
        item, error = parse_field(spec, text)
        if error:
            self.local_errors[path] = error
            self._refresh_help()
            return
        if self.local_errors.pop(path, None):
            self._refresh_help()
        self.post_message(self.FieldEdited(path, item))

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        event.stop()
        if event.input.id is not None and not event.input.value.strip():
            self._apply_input(path_of(event.input.id), "")

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id is None:
            return
        path = path_of(event.select.id)
        value = event.value
        if value is Select.NULL or value is None:
            self.post_message(self.FieldEdited(path, None))
            return
        spec = _spec(path)
        text = str(value)
        item = literal(text) if spec.path.endswith("deepspeed_stage") and text.isdigit() else tomlkit.item(text)
        self.post_message(self.FieldEdited(path, item))

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        if event.switch.id is None:
            return
        path = path_of(event.switch.id)
        self.query_one(f"#{event.switch.id}-state", Static).update(toml_spelling(event.value))
        self.post_message(self.FieldEdited(path, tomlkit.item(event.value)))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id is not None and not event.value.strip():
            self._apply_input(path_of(event.input.id), "")
        self.screen.focus_next()


def toml_spelling(value: Any) -> str:
    """A value as TOML writes it (``true``/``false``, never Python's ``True``/``False``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return str(tomlkit.item(value).as_string())
    except (TypeError, ValueError):
        return str(value)


def _spec(path: str) -> FieldSpec:
    return BY_PATH[path]


def _lookup(doc: Any, dotted: str) -> tuple[Any, Any]:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None, None
        node = node[part]
    value = node.unwrap() if hasattr(node, "unwrap") else node
    return node, value
