"""The Configs pane: pick a TOML config, edit it as a form or as raw TOML, see what will be sent.

The document's text is the single source of truth. A form edit rewrites one value through
tomlkit and the raw view follows; a raw edit (debounced) re-fills the form. After every change
the config is re-checked as synth-ai 0.2.23 would check it (a few milliseconds for a config file,
so it runs inline), errors and warnings appear at their field and in the Problems list, and the
payload and diff views follow. Saving shows the diff first, is atomic and keeps a ``.bak``; a
file changed or deleted on disk is detected before writing. Unsaved edits of every opened file
are kept while you switch between files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Label, OptionList, Static, Switch, TabbedContent, TabPane, TextArea
from textual.widgets.option_list import Option

from services.common.echo import LIST_LIMIT
from services.common.workspace import configs_dir
from services.configs.check import check_text
from services.configs.document import ConfigDocument, ConfigFileError, DiskChanged, ReadOnlyFile
from services.configs.fields import BY_PATH
from services.configs.files import list_configs, open_config
from services.configs.payload import PayloadUnavailable, payload_json, preview_payload
from services.configs.report import ConfigReport, Finding, Level, Source
from tui.panes.configs.dialogs import ConflictDialog, PathDialog, SaveDialog, UnsavedDialog, diff_renderable
from tui.panes.configs.form import ConfigForm
from tui.panes.configs.spec import SPEC
from tui.panes.configs.sweep_view import SweepView

RAW_DEBOUNCE_S = 0.3
#: Terminals narrower than this get the stacked layout (files above the editor).
NARROW_BELOW = 120
#: Terminals narrower than this get the short header (file name, "CLI accepts", "2 err"), so its one
#: line holds everything.
SHORT_TITLE_BELOW = 150
DISK_WATCH_S = 2.0
MARK = {Level.ERROR: "✗", Level.WARNING: "!", Level.INFO: "·"}
#: What takes the focus when a view is shown by key (the form, absent here: its first field).
TAB_FOCUS = {
    "cfg-raw-tab": "#cfg-raw",
    "cfg-payload-tab": "#cfg-payload",
    "cfg-diff-tab": "#cfg-diff-box",
    "cfg-sweep-tab": "#sweep-axis",
}
_LEVEL_STYLE = {Level.ERROR: "bold $text-error", Level.WARNING: "bold $text-warning", Level.INFO: "$text-muted"}


class PayloadView(TextArea):
    """Read-only JSON (selectable, ctrl+c copies); ctrl+z / ctrl+y fall through to the pane's undo of
    the config edits instead of undoing nothing here."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("undo", "redo"):
            return False
        return super().check_action(action, parameters)


class ConfigsPane(Vertical):
    """Files on the left; Form / Raw TOML / Payload / Diff / Sweep on the right; problems below."""

    BINDINGS: ClassVar[list[BindingType]] = list(SPEC.focus_keys)

    DEFAULT_CSS = """
    ConfigsPane { height: 1fr; }
    ConfigsPane #cfg-main { height: 1fr; }
    ConfigsPane #cfg-side { width: 33; height: 1fr; border: round $primary 60%; border-title-color: $text-primary; }
    ConfigsPane #cfg-side:focus-within { border: round $accent; }
    ConfigsPane #cfg-files { height: 1fr; border: none; }
    ConfigsPane #cfg-side-hint { color: $text-muted; height: auto; }
    ConfigsPane #cfg-editor { width: 1fr; height: 1fr; }
    ConfigsPane #cfg-title { height: 1; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    ConfigsPane #cfg-title.-error { color: $text-error; }
    ConfigsPane #cfg-tabs { height: 1fr; }
    ConfigsPane #cfg-tabs > ContentSwitcher { height: 1fr; }
    ConfigsPane TabPane { padding: 0; height: 1fr; }
    ConfigsPane #cfg-raw { height: 1fr; border: none; }
    ConfigsPane #cfg-payload-bar { height: auto; padding: 0 1; }
    ConfigsPane #cfg-payload-bar Switch { width: auto; height: 1; border: none; padding: 0; }
    ConfigsPane #cfg-exact-label { width: auto; padding-right: 1; }
    ConfigsPane #cfg-payload-note { width: 1fr; color: $text-muted; padding-left: 1; }
    ConfigsPane #cfg-payload { height: 1fr; border: none; }
    ConfigsPane #cfg-diff-box { height: 1fr; padding: 0 1; }
    ConfigsPane #cfg-problems {
        height: 8;
        border: round $primary 60%;
        border-title-color: $text-primary;
        border-title-style: bold;
    }
    ConfigsPane #cfg-problems:focus { border: round $accent; }
    /* Below NARROW_BELOW columns (80x24 over SSH): files above the editor, not beside it; the file
       list and Problems show one row each until they get the focus; the header is one line. */
    ConfigsPane.-narrow #cfg-main { layout: vertical; }
    ConfigsPane.-narrow #cfg-side { width: 1fr; height: 3; }
    ConfigsPane.-narrow #cfg-side:focus-within { height: 7; }
    ConfigsPane.-narrow #cfg-side-hint { display: none; }
    ConfigsPane.-narrow #cfg-problems { height: 3; }
    ConfigsPane.-narrow #cfg-problems:focus { height: 10; }
    ConfigsPane.-narrow ConfigForm .cfg-section { margin-top: 0; }
    ConfigsPane.-narrow ConfigForm .key { width: 24; }
    ConfigsPane.-narrow ConfigForm .help { padding-left: 2; }
    """

    def __init__(
        self,
        config_dir: Path | None = None,
        *,
        cwd: Path | None = None,
        watch_interval: float | None = DISK_WATCH_S,
        id: str | None = None,
    ) -> None:
        """``watch_interval`` None turns off noticing changes on disk between actions (tests)."""
        super().__init__(id=id)
        # Absolute, like every path the pane keeps: a file opened as "configs/x.toml" and the same file
        # found by a rescan must be one entry, not two.
        self.config_dir = (configs_dir() if config_dir is None else config_dir).absolute()  # the workspace's
        self.cwd = cwd
        self.watch_interval = watch_interval
        self._disk_seen: tuple[Path, str] | None = None
        self.paths: list[Path] = []
        self.docs: dict[Path, ConfigDocument] = {}
        self.doc: ConfigDocument | None = None
        self.report: ConfigReport | None = None
        self.cli_exact = False
        self._raw_timer: Timer | None = None
        self._shown_findings: list[Finding] = []
        self._view_by_key = False  # the next view switch came from F2…F6: the focus goes into it
        self._activated = False  # the first showing puts the focus in the file list, whatever took it

    def compose(self) -> ComposeResult:
        with Horizontal(id="cfg-main"):
            with Vertical(id="cfg-side") as side:
                side.border_title = "Configs"
                yield OptionList(id="cfg-files")
                yield Static("Enter open · ctrl+o open a path", id="cfg-side-hint", markup=False)
            with Vertical(id="cfg-editor"):
                yield Static("No config open.", id="cfg-title", markup=False)
                with TabbedContent(id="cfg-tabs", initial="cfg-form-tab"):
                    with TabPane("Form F2", id="cfg-form-tab"):
                        yield ConfigForm(id="cfg-form-view")
                    with TabPane("Raw TOML F3", id="cfg-raw-tab"):
                        yield TextArea.code_editor("", language="toml", id="cfg-raw", soft_wrap=False)
                    with TabPane("Payload F4", id="cfg-payload-tab"):
                        with Horizontal(id="cfg-payload-bar"):
                            yield Label("CLI-exact", id="cfg-exact-label")
                            yield Switch(id="cfg-cli-exact", animate=False, tooltip="Drop sft-studio's extras")
                            yield Label("exactly synth-ai 0.2.23's body (no sft-studio extras)", id="cfg-payload-note")
                        yield PayloadView("", language="json", read_only=True, id="cfg-payload", soft_wrap=True)
                    with TabPane("Diff F5", id="cfg-diff-tab"), VerticalScroll(id="cfg-diff-box"):
                        yield Static("No unsaved changes.", id="cfg-diff")
                    with TabPane("Sweep F6", id="cfg-sweep-tab"):
                        yield SweepView(id="cfg-sweep")
                yield OptionList(id="cfg-problems")

    def on_mount(self) -> None:
        self.query_one("#cfg-problems").border_title = "Problems"
        self.rescan()
        if self.paths:
            self.open(self.paths[0])
        if self.watch_interval:
            self.set_interval(self.watch_interval, self.check_disk)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        """The file list collapses to one row when it loses the focus (narrow layout): keep the open file in view."""
        if event.widget.id == "cfg-files":
            files = self.query_one("#cfg-files", OptionList)
            self.call_after_refresh(files.scroll_to_highlight)

    def on_resize(self) -> None:
        narrow = self.app.size.width < NARROW_BELOW
        short = self.app.size.width < SHORT_TITLE_BELOW
        if narrow != self.has_class("-narrow") or short != self.has_class("-short-title"):
            self.set_class(narrow, "-narrow")
            self.set_class(short, "-short-title")
            self._show_title()

    def check_disk(self) -> None:
        """Notice the open file changing on disk: reload it when there are no unsaved edits, else warn once."""
        doc = self.doc
        if doc is None or not doc.stamp.exists:
            return
        try:
            state = doc.disk_state()
        except ConfigFileError:
            return
        seen = (doc.path, state)
        if seen == self._disk_seen:
            return
        self._disk_seen = seen
        if state == "changed" and not doc.dirty:
            try:
                doc.reload()
            except ConfigFileError:
                return
            self._disk_seen = (doc.path, "same")
            self._refresh(source=None)
            self.app.notify(f"{doc.path} changed on disk: reloaded (ctrl+z goes back).", title="Reloaded")
        elif state != "same":
            what = "deleted" if state == "deleted" else "changed"
            self._show_title()
            self.app.notify(
                f"{doc.path} was {what} on disk. Your edits are kept; ctrl+s lets you choose what to do.",
                title=f"File {what} on disk",
                severity="warning",
            )

    def activate(self) -> None:
        """The pane was shown: put the focus in it, so its keys (ctrl+s, F2…F6) work at once."""
        focused = self.screen.focused
        first = not self._activated
        self._activated = True
        if first or focused is None or self not in focused.ancestors:
            self.query_one("#cfg-files", OptionList).focus()

    # ----------------------------------------------------------------------------------- files

    def rescan(self) -> None:
        found = [f.path.absolute() for f in list_configs(self.config_dir)]
        extra = [p for p in self.docs if p not in found]
        self.paths = found + extra
        self._render_files()

    def _render_files(self) -> None:
        files = self.query_one("#cfg-files", OptionList)
        highlighted = files.highlighted
        files.clear_options()
        for index, path in enumerate(self.paths):
            doc = self.docs.get(path)
            mark = "● " if doc is not None and doc.dirty else "  "
            try:
                label = str(path.relative_to(self.config_dir))
            except ValueError:
                label = str(path)
            files.add_option(Option(mark + label, id=str(index)))
        if self.paths:
            current = self.paths.index(self.doc.path) if self.doc and self.doc.path in self.paths else highlighted
            files.highlighted = current if current is not None else 0
            # Collapsed to one row (narrow layout), the list must show the open file, not the first.
            self.call_after_refresh(files.scroll_to_highlight)
        if not self.paths:
            self.query_one("#cfg-title", Static).update(
                f"No configs in {self.config_dir}/: press ctrl+o to open one by path."
            )

    @on(OptionList.OptionSelected, "#cfg-files")
    def _file_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        if 0 <= index < len(self.paths):
            self.request_open(self.paths[index])

    def request_open(self, path: Path) -> None:
        """Open ``path`` as the user asked (file list, ctrl+o): unsaved edits of the file being left
        are saved, discarded or kept (cancel) first, never silently carried along."""
        doc = self.doc
        self.flush_pending()
        if doc is None or doc.path == path or not doc.dirty:
            self.open(path)
            return

        def answered(answer: str | None) -> None:
            if answer == "save" and self._save_now(doc):
                self.open(path)
            elif answer == "discard":
                self._discard(doc)
                self.open(path)
            else:
                self._render_files()  # the list shows the file still open

        self.app.push_screen(UnsavedDialog([doc.path], "switch files"), callback=answered)

    def may_close(self, proceed: Callable[[], None]) -> bool:
        """The app is quitting: True when no open file has unsaved edits; else ask save / discard /
        cancel and call ``proceed`` once every edit is saved or discarded (``MayClose``)."""
        if isinstance(self.app.screen, UnsavedDialog):
            return False  # already asking (q pressed again in the dialog)
        self.flush_pending()
        dirty = [doc for doc in self.docs.values() if doc.dirty]
        if not dirty:
            return True

        def answered(answer: str | None) -> None:
            if answer == "save" and all(self._save_now(doc) for doc in dirty):
                proceed()
            elif answer == "discard":
                for doc in dirty:
                    self._discard(doc)
                proceed()

        self.app.push_screen(UnsavedDialog([doc.path for doc in dirty], "quit"), callback=answered)
        return False

    def _discard(self, doc: ConfigDocument) -> None:
        """Forget ``doc``'s unsaved edits: it is read again from disk when next opened."""
        self.docs.pop(doc.path, None)
        if doc is self.doc and doc.stamp.exists:
            try:
                doc.reload()
            except ConfigFileError:
                return
            self.docs[doc.path] = doc
            self._refresh(source=None)

    def _save_now(self, doc: ConfigDocument) -> bool:
        """Save ``doc`` without the diff dialog (the user chose "save" on leaving); False after saying
        why not (invalid TOML, changed on disk, read-only), so nothing is left behind unsaved."""
        report = check_text(doc.text, doc.path, cwd=self.cwd)
        toml_errors = [f for f in report.errors if f.source is Source.TOML]
        if toml_errors:
            self.app.notify(
                _sentence(toml_errors[0].message) + " Nothing was saved.", title="Invalid TOML", severity="error"
            )
            return False
        try:
            doc.save()
        except ConfigFileError as exc:
            self.app.notify(
                f"{exc} Nothing was left: ctrl+s to choose what to do.", title="Not saved", severity="error"
            )
            return False
        self._disk_seen = None
        self.app.notify(self._saved_text(doc), title="Saved")
        if doc is self.doc:
            self._refresh(source=None)
        return True

    @staticmethod
    def _saved_text(doc: ConfigDocument) -> str:
        kept = f" (previous version in {doc.last_backup.name})" if doc.last_backup else ""
        return f"Saved {doc.path}{kept}."

    def open(self, path: Path) -> bool:
        """Show ``path`` (its unsaved edits, if it was open before); False after explaining why not."""
        path = path.absolute()
        doc = self.docs.get(path)
        if doc is None:
            try:
                doc = open_config(path)
            except (ConfigFileError, OSError) as exc:
                self.app.notify(str(exc), title="Cannot open", severity="error")
                return False
            self.docs[path] = doc
        self.doc = doc
        self._disk_seen = None
        if path not in self.paths:
            self.paths.append(path)
        self._render_files()
        self._refresh(source=None)
        if self.report and any(f.source is Source.TOML for f in self.report.errors):
            self._show_view("cfg-raw")
        return True

    # ---------------------------------------------------------------------------------- refresh

    def _refresh(self, source: str | None) -> None:
        """Re-check the document and bring every view in line; ``source`` is the view edited."""
        doc = self.doc
        if doc is None:
            return
        self.report = check_text(doc.text, doc.path, cwd=self.cwd)
        if source != "raw":
            raw = self.query_one("#cfg-raw", TextArea)
            if raw.text != doc.text:
                where = raw.cursor_location
                raw.load_text(doc.text)
                last = max(raw.document.line_count - 1, 0)
                raw.cursor_location = (min(where[0], last), where[1])
        form = self.query_one(ConfigForm)
        toml_errors = [f for f in self.report.errors if f.source is Source.TOML]
        form.set_locked(
            f"Read-only: the raw TOML does not parse ({toml_errors[0].message}). Fix it in Raw TOML (F3); "
            "the form follows once it parses."
            if toml_errors
            else None
        )
        form.show_document(doc.text)
        form.show_findings(self.report.findings)
        self._show_problems(self.report)
        self._show_payload()
        self._show_diff()
        self._show_title()
        self._render_files()
        sweep = self.query_one(SweepView)
        if self.query_one("#cfg-tabs", TabbedContent).active == "cfg-sweep-tab":
            sweep.set_base(doc.path if doc.stamp.exists else None, dirty=doc.dirty)

    def _show_title(self) -> None:
        doc, report = self.doc, self.report
        if doc is None or report is None:
            return
        narrow = self.has_class("-short-title")
        parts = [doc.path.name if narrow else str(doc.path)]
        if doc.dirty:
            parts.append("● unsaved")
        state = doc.disk_state() if doc.stamp.exists else "new"
        if state == "changed":
            parts.append("changed on disk")
        elif state == "deleted":
            parts.append("deleted on disk")
        verdict = "accepts" if report.cli_accepts else "refuses"
        parts.append(f"{'✓' if report.cli_accepts else '✗'} {'CLI' if narrow else 'synth-ai 0.2.23'} {verdict}")
        errors, warnings = len(report.errors), len(report.warnings)
        if narrow:
            parts.append(f"{errors} err · {warnings} warn")
        else:
            parts.append(f"{errors} error{'s' * (errors != 1)} · {warnings} warning{'s' * (warnings != 1)}")
        if report.global_batch:
            parts.append(f"{'batch' if narrow else 'global batch'} {report.global_batch}")
        title = self.query_one("#cfg-title", Static)
        title.update((" · " if narrow else "  ·  ").join(parts))
        title.set_class(not report.submittable, "-error")

    def _show_problems(self, report: ConfigReport) -> None:
        problems = self.query_one("#cfg-problems", OptionList)
        order = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
        findings = sorted(report.findings, key=lambda f: (order[f.level], f.line or 0))
        hidden = max(len(findings) - LIST_LIMIT, 0)  # 50,000 unknown keys must not freeze the list
        findings = findings[:LIST_LIMIT]
        self._shown_findings = findings
        problems.clear_options()
        for index, finding in enumerate(findings):
            where = finding.path or "file"
            if finding.line:
                where += f" (line {finding.line})"
            message = " ".join(finding.message.split())
            head = f"{MARK[finding.level]} {where}"
            text = Content(f"{head}\u00a0({finding.source.value}): {message}").stylize(
                _LEVEL_STYLE[finding.level], 0, len(head)
            )
            problems.add_option(Option(text, id=str(index)))
        if hidden:
            problems.add_option(Option(f"… and {hidden:,} more (sft-studio config validate --json lists all)"))
        errors = len(report.errors)
        warnings = len(report.warnings)
        problems.border_title = (
            f"Problems · {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        )
        problems.border_subtitle = "Enter jumps to the field"

    def _show_payload(self) -> None:
        report = self.report
        view = self.query_one("#cfg-payload", TextArea)
        note = self.query_one("#cfg-payload-note", Label)
        if report is None:
            return
        try:
            body = preview_payload(report, cli_exact=self.cli_exact)
        except PayloadUnavailable as exc:
            view.load_text(
                f"// No payload: synth-ai 0.2.23 stops with\n// {str(exc).replace(chr(10), chr(10) + '// ')}"
            )
            note.update("exactly synth-ai 0.2.23's body (no sft-studio extras)")
            return
        view.load_text(payload_json(body))
        if self.cli_exact or not report.extras:
            note.update("exactly what synth-ai 0.2.23 POSTs to /learning/jobs (file ids are placeholders)")
        else:
            extras = ", ".join(report.extras)
            note.update(f"synth-ai's body + sft-studio extras: {extras} (honoured by backends that support them)")

    def _show_diff(self) -> None:
        doc = self.doc
        if doc is None:
            return
        diff = doc.diff()
        target = self.query_one("#cfg-diff", Static)
        target.update(diff_renderable(diff) if diff else "No unsaved changes: the file on disk matches.")

    # ----------------------------------------------------------------------------------- edits

    def _form_locked(self) -> bool:
        return self.query_one(ConfigForm).locked is not None

    @on(ConfigForm.FieldEdited)
    def _field_edited(self, event: ConfigForm.FieldEdited) -> None:
        event.stop()
        doc = self.doc
        if doc is None:
            return
        if self._form_locked():  # never drop an edit silently: say why it was not applied
            self.app.notify(
                "The raw TOML does not parse: fix it first (F3).", title="Edit not applied", severity="error"
            )
            self._refresh(source=None)
            return
        try:
            if event.value is None:
                doc.remove_value(event.path)
            else:
                doc.set_value(event.path, event.value, group=event.path)
        except ValueError as exc:
            self.app.notify(str(exc), title="Edit not applied", severity="error")
            return
        self._refresh(source="form")

    @on(TextArea.Changed, "#cfg-raw")
    def _raw_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self.doc is None or event.text_area.text == self.doc.text:
            return
        if self._raw_timer is not None:
            self._raw_timer.stop()
        self._raw_timer = self.set_timer(RAW_DEBOUNCE_S, self._commit_raw)

    def _commit_raw(self) -> None:
        self._raw_timer = None
        if self.doc is None:
            return
        self.doc.set_text(self.query_one("#cfg-raw", TextArea).text)
        self._refresh(source="raw")

    def flush_pending(self) -> None:
        """Apply what is typed but not applied yet (a raw edit in its debounce, a field being cleared)."""
        self.flush_raw()
        pending = self.query_one(ConfigForm).pending_removal()
        if pending is not None and self.doc is not None and not self._form_locked():
            self.doc.remove_value(pending)
            self._refresh(source="form")

    def flush_raw(self) -> None:
        """Apply a pending raw edit now (before saving, undoing or switching files)."""
        if self._raw_timer is not None:
            self._raw_timer.stop()
            self._raw_timer = None
        if self.doc is not None and self.query_one("#cfg-raw", TextArea).text != self.doc.text:
            self._commit_raw()

    @on(Switch.Changed, "#cfg-cli-exact")
    def _exact_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.cli_exact = event.value
        self._show_payload()

    @on(OptionList.OptionSelected, "#cfg-problems")
    def _problem_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        if not 0 <= index < len(self._shown_findings):
            return
        finding = self._shown_findings[index]
        if finding.path in BY_PATH:
            self._show_view("cfg-form")
            self.query_one(ConfigForm).focus_field(finding.path)
        elif finding.line:
            self._show_view("cfg-raw")
            raw = self.query_one("#cfg-raw", TextArea)
            raw.cursor_location = (finding.line - 1, 0)
            raw.focus()

    @on(TabbedContent.TabActivated, "#cfg-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        if event.pane.id == "cfg-sweep-tab" and self.doc is not None:
            self.query_one(SweepView).set_base(self.doc.path if self.doc.stamp.exists else None, dirty=self.doc.dirty)
        elif event.pane.id == "cfg-diff-tab":
            self._show_diff()
        by_key, self._view_by_key = self._view_by_key, False
        self._focus_into(event.pane, by_key=by_key)

    def _focus_into(self, pane: TabPane, *, by_key: bool) -> None:
        """F2…F6 put the focus into the view they show. Otherwise (a click on a tab) the focus stays,
        unless it was in the view just hidden, or nowhere: then it moves in too, so the pane's keys
        (F2…F6, ctrl+s) keep working."""
        focused = self.screen.focused
        switcher = self.query_one("#cfg-tabs > ContentSwitcher")
        if focused is not None and pane in focused.ancestors:
            return
        if focused is not None and not by_key and switcher not in focused.ancestors:
            return
        selector = TAB_FOCUS.get(pane.id or "")
        if selector:
            self.query_one(selector).focus(scroll_visible=False)
        else:
            self.query_one(ConfigForm).query("Input, Select, Switch").first().focus(scroll_visible=False)

    @on(SweepView.Written)
    def _sweep_written(self, event: SweepView.Written) -> None:
        event.stop()
        self.rescan()
        self.app.notify(f"Wrote {len(event.paths) - 1} sweep configs and sweep.json.", title="Sweep")

    # --------------------------------------------------------------------------------- actions

    def action_leave_field(self) -> None:
        """Escape in a form field: focus the file list, so 1…6 switch panes instead of typing digits."""
        self.query_one("#cfg-files", OptionList).focus()

    def action_tab(self, tab: str) -> None:
        """F2…F6: show a view (form, raw, payload, diff, sweep) and put the focus into it."""
        tabs = self.query_one("#cfg-tabs", TabbedContent)
        if tabs.active == f"{tab}-tab":
            self._focus_into(tabs.get_pane(f"{tab}-tab"), by_key=True)
            return
        self._view_by_key = True
        self._show_view(tab)

    def _show_view(self, tab: str) -> None:
        """Show a view; the focus stays where it is unless it was in the view now hidden."""
        self.query_one("#cfg-tabs", TabbedContent).active = f"{tab}-tab"

    def action_undo(self) -> None:
        self.flush_pending()
        if self.doc is not None and self.doc.undo():
            self._refresh(source=None)
        else:
            self.app.notify("Nothing to undo.", timeout=2)

    def action_redo(self) -> None:
        if self.doc is not None and self.doc.redo():
            self._refresh(source=None)

    def action_refresh(self) -> None:
        """r: list the configs folder again and look at the open file on disk now (not at the next tick)."""
        self.rescan()
        self._disk_seen = None
        self.check_disk()
        self.app.notify(f"{len(self.paths)} config(s) in {self.config_dir}.", timeout=2)

    def action_reload(self) -> None:
        doc = self.doc
        if doc is None:
            return
        try:
            doc.reload()
        except ConfigFileError as exc:
            self.app.notify(str(exc), title="Cannot reload", severity="error")
            return
        self._disk_seen = None
        self._refresh(source=None)
        self.app.notify(f"Reloaded {doc.path} (ctrl+z brings your edits back).")

    def action_open_path(self) -> None:
        self.app.push_screen(
            PathDialog("Open config", f"{self.config_dir}/", "A TOML file; it joins the list on the left."),
            callback=self._open_answer,
        )

    def _open_answer(self, path: Path | None) -> None:
        if path is not None:
            self.request_open(path)

    def action_save(self) -> None:
        self.flush_pending()
        doc, report = self.doc, self.report
        if doc is None or report is None:
            return
        toml_errors = [f for f in report.errors if f.source is Source.TOML]
        if toml_errors:
            self.app.notify(
                _sentence(toml_errors[0].message) + " Nothing was saved.", title="Invalid TOML", severity="error"
            )
            return
        state = doc.disk_state() if doc.stamp.exists else "same"
        if state != "same":
            self.app.push_screen(ConflictDialog(doc.path, state), callback=self._conflict_answer)
            return
        if not doc.dirty:
            self.app.notify("No unsaved changes.", timeout=2)
            return
        note = ""
        if not report.submittable:
            note = "This config would be refused at submit time (see Problems); you can still save it."
        self.app.push_screen(SaveDialog(doc.path, doc.diff(), note), callback=self._save_answer)

    def _save_answer(self, save: bool | None) -> None:
        if save:
            self._write(overwrite=False)

    def _write(self, *, overwrite: bool) -> None:
        doc = self.doc
        if doc is None:
            return
        try:
            doc.save(overwrite=overwrite)
        except DiskChanged:
            self.app.push_screen(ConflictDialog(doc.path, doc.disk_state()), callback=self._conflict_answer)
            return
        except ReadOnlyFile as exc:
            self.app.notify(str(exc), title="Read-only file", severity="error")
            self._ask_save_as()
            return
        except ConfigFileError as exc:
            self.app.notify(str(exc), title="Not saved", severity="error")
            return
        self._disk_seen = None
        self.app.notify(self._saved_text(doc), title="Saved")
        self._refresh(source=None)

    def _conflict_answer(self, answer: str | None) -> None:
        if answer == "reload":
            self.action_reload()
        elif answer == "overwrite":
            self._write(overwrite=True)
        elif answer == "save_as":
            self._ask_save_as()

    def _ask_save_as(self) -> None:
        doc = self.doc
        if doc is None:
            return
        suggestion = doc.path.with_name(doc.path.stem + "-copy.toml")
        self.app.push_screen(
            PathDialog("Save as", str(suggestion), "A new file: an existing one is never replaced from here."),
            callback=self._save_as_answer,
        )

    def _save_as_answer(self, path: Path | None) -> None:
        doc = self.doc
        if doc is None or path is None:
            return
        old = doc.path
        try:
            doc.save_as(path)
        except ConfigFileError as exc:
            self.app.notify(str(exc), title="Not saved", severity="error")
            return
        self.docs.pop(old, None)
        self.docs[path] = doc
        self.rescan()
        self.app.notify(f"Saved as {path}.", title="Saved")
        self._refresh(source=None)


def _sentence(text: str) -> str:
    """``text`` ending with a full stop, so a second sentence can follow it."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."
