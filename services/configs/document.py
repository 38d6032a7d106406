"""A TOML config being edited: exact round trip, one-value edits, undo, safe saves.

tomlkit keeps comments, key order, blank lines and inline tables, so loading and saving an
untouched file gives the same bytes and a form edit changes only that value's text. Saving is
atomic (``services.common.atomic``: temp file + rename in the same folder, mode kept) and keeps one
``.bak`` of what was on disk; a file changed or deleted on disk since it was loaded is detected
before anything is written.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, InlineTable, Item, Table, Whitespace

from services.common.atomic import backup_path, existing_mode, write_atomic
from services.common.echo import cap_echo
from services.configs.toml_load import TomlError, load_document


class ConfigFileError(Exception):
    """A config cannot be read or written; the message says why, and nothing was changed."""


class DiskChanged(ConfigFileError):
    """The file on disk is no longer what we loaded: reload, overwrite, or save as a new file."""


class ReadOnlyFile(ConfigFileError):
    """The target has no write permission: save under another name instead."""


class EditError(ValueError):
    """An edit cannot be applied (the text is not valid TOML, or the value is not a TOML value)."""


@dataclass(frozen=True)
class DiskStamp:
    exists: bool
    sha256: str | None

    @classmethod
    def of(cls, path: Path) -> DiskStamp:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(False, None)
        except OSError as exc:
            raise ConfigFileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        return cls(True, hashlib.sha256(data).hexdigest())


def read_config_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigFileError(f"{path} does not exist.") from exc
    except IsADirectoryError as exc:
        raise ConfigFileError(f"{path} is a folder, not a TOML file.") from exc
    except OSError as exc:
        raise ConfigFileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path} is not UTF-8 text (byte {exc.start}).") from exc


def literal(text: str) -> Item:
    """A TOML value from its literal spelling (``1e-5`` stays ``1e-5``, ``"H100"``, ``true``)."""
    try:
        return load_document(f"v = {text.strip()}\n")["v"]  # type: ignore[no-any-return]
    except TomlError as exc:
        raise EditError(f"{cap_echo(text.strip())!r} is not a TOML value") from exc


def parse_document(text: str) -> tomlkit.TOMLDocument:
    """The editable document; :class:`EditError` with the one TOML error message (``toml_load``)."""
    try:
        return load_document(text)
    except TomlError as exc:
        raise EditError(str(exc)) from exc


def render(doc: tomlkit.TOMLDocument, like: str) -> str:
    """The document's text, with Windows line endings kept when ``like`` used them throughout.

    tomlkit writes every line it adds with a bare LF; a CRLF file would end up mixed.
    """
    text = doc.as_string()
    if "\r\n" in like and "\n" not in like.replace("\r\n", ""):
        text = re.sub(r"(?<!\r)\n", "\r\n", text)
    return text


def _split(dotted: str) -> list[str]:
    """The parts of a dotted key; an empty part (``compute..gpu``, ``.x``, ``x.``) is refused, not
    skipped: skipping it would edit a different key than the one written."""
    if not dotted.strip():
        raise EditError("empty key path")
    parts = [p.strip() for p in dotted.split(".")]
    if not all(parts):
        raise EditError(f"{cap_echo(dotted)!r} has an empty key part (two dots, or a dot at an end)")
    return parts


def get_value(doc: tomlkit.TOMLDocument, dotted: str) -> Any:
    node: Any = doc
    for part in _split(dotted):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node.unwrap() if hasattr(node, "unwrap") else node


def set_item(doc: tomlkit.TOMLDocument, dotted: str, value: Item | Any) -> None:
    """Set one value, creating missing tables (each new table ends with a blank line)."""
    *tables, key = _split(dotted)
    node: Container | Table | InlineTable = doc
    for part in tables:
        child = node.get(part)
        if child is None:
            table = tomlkit.table()
            node.append(part, table)
            child = node[part]
        if not isinstance(child, Table | Container | InlineTable):  # a value, an array, an array of tables
            raise EditError(f"{part} in {dotted} is a value, not a table")
        node = child
    item = value if isinstance(value, Item) else tomlkit.item(value)
    if key in node:
        node[key] = item
        return
    if isinstance(node, InlineTable):  # the key joins the braces, on the same line
        node.append(key, item)
        return
    body = node.value if isinstance(node, Table) else node
    if not tables and isinstance(node, Container):
        _insert_top_level(node, key, item)
        return
    if isinstance(node, Table) and not body.body and tables:
        node.append(key, item)
        if len(tables) > 1:  # a new sub-table lands between tables: end it with a blank line
            node.append(None, tomlkit.nl())
        return
    # New keys go before a table's trailing blank lines, not after them.
    index = len(body.body)
    while index > 0 and isinstance(body.body[index - 1][1], Whitespace):
        index -= 1
    if index == len(body.body) or isinstance(node, Container):
        node.append(key, item)
    else:
        body._insert_at(index, key, item)


def _insert_top_level(doc: Container, key: str, item: Item) -> None:
    """A new key outside every table goes right before the first table (after it, TOML would read it
    as that table's), set apart by blank lines from the file's header comments above and the table
    below (glued to the comments it would read as part of the header)."""
    entries = doc.body
    index = next((i for i, (k, v) in enumerate(entries) if k is not None and isinstance(v, Table | AoT)), None)
    if index is None:
        doc.append(key, item)
        return
    glued_to = entries[index - 1][1] if index > 0 else None
    if isinstance(glued_to, Comment):
        item.trivia.indent = "\n" + item.trivia.indent
    item.trivia.trail = item.trivia.trail.rstrip("\n") + "\n\n"
    doc._insert_at(index, key, item)


def remove_item(doc: tomlkit.TOMLDocument, dotted: str) -> bool:
    *tables, key = _split(dotted)
    node: Any = doc
    for part in [*tables, None]:
        if not isinstance(node, Table | Container | InlineTable):  # a value: nothing to remove inside it
            return False
        if part is None:
            break
        if part not in node:
            return False
        node = node[part]
    if key not in node:
        return False
    del node[key]
    return True


class ConfigDocument:
    """One config file and its unsaved edits (plain text is the single source of truth)."""

    def __init__(self, path: Path, text: str, stamp: DiskStamp) -> None:
        self.path = path
        self.saved_text = text
        self.text = text
        self.stamp = stamp
        self._undo: list[str] = []
        self._redo: list[str] = []
        self._group: str | None = None
        #: The ``.bak`` the last save wrote (None: it kept none, e.g. the file had been deleted).
        self.last_backup: Path | None = None

    @classmethod
    def load(cls, path: Path) -> ConfigDocument:
        text = read_config_text(path)
        return cls(path, text, DiskStamp(True, hashlib.sha256(text.encode("utf-8")).hexdigest()))

    @classmethod
    def new(cls, path: Path, text: str) -> ConfigDocument:
        """A document not yet on disk (a sweep cell, a save-as target)."""
        return cls(path, text, DiskStamp(False, None))

    @property
    def dirty(self) -> bool:
        return self.text != self.saved_text or not self.stamp.exists

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def set_text(self, text: str, *, group: str | None = None) -> None:
        """Replace the text; consecutive edits with the same ``group`` are one undo step."""
        if text == self.text:
            return
        if group is None or group != self._group:
            self._undo.append(self.text)
        self._group = group
        self._redo.clear()
        self.text = text

    def set_value(self, dotted: str, value: Item | Any, *, group: str | None = None) -> None:
        doc = parse_document(self.text)
        set_item(doc, dotted, value)
        self.set_text(render(doc, self.text), group=group)

    def set_literal(self, dotted: str, text: str) -> None:
        self.set_value(dotted, literal(text))

    def remove_value(self, dotted: str) -> None:
        doc = parse_document(self.text)
        if remove_item(doc, dotted):
            self.set_text(render(doc, self.text))

    def value(self, dotted: str) -> Any:
        try:
            return get_value(parse_document(self.text), dotted)
        except EditError:
            return None

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.text)
        self.text = self._undo.pop()
        self._group = None
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.text)
        self.text = self._redo.pop()
        self._group = None
        return True

    def revert(self) -> None:
        """Drop every unsaved edit (undoable)."""
        self.set_text(self.saved_text)

    def diff(self) -> str:
        """Unified diff from the file on disk to the edited text ("" when they match)."""
        try:
            on_disk = read_config_text(self.path) if self.path.exists() else ""
        except ConfigFileError:
            on_disk = self.saved_text
        lines = difflib.unified_diff(
            on_disk.splitlines(keepends=True),
            self.text.splitlines(keepends=True),
            fromfile=f"{self.path.name} (on disk)",
            tofile=f"{self.path.name} (edited)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def disk_state(self) -> str:
        """ "same", "changed" or "deleted" compared with what was loaded (or last saved)."""
        now = DiskStamp.of(self.path)
        if not self.stamp.exists:
            return "same" if not now.exists else "changed"
        if not now.exists:
            return "deleted"
        return "same" if now.sha256 == self.stamp.sha256 else "changed"

    def reload(self) -> None:
        """Re-read the file from disk; unsaved edits are dropped (undo brings them back)."""
        text = read_config_text(self.path)
        self.stamp = DiskStamp(True, hashlib.sha256(text.encode("utf-8")).hexdigest())
        self.saved_text = text
        self.set_text(text)

    def save(self, *, overwrite: bool = False) -> Path:
        """Write atomically; refuse (``DiskChanged``) when the disk moved on, unless ``overwrite``."""
        state = self.disk_state()
        if state != "same" and not overwrite:
            what = "was deleted" if state == "deleted" else "was changed by something else"
            raise DiskChanged(f"{self.path} {what} since it was loaded: reload, overwrite, or save as a new file.")
        self.last_backup = atomic_write(self.path, self.text, backup=True)
        self.saved_text = self.text
        self.stamp = DiskStamp(True, hashlib.sha256(self.text.encode("utf-8")).hexdigest())
        return self.path

    def save_as(self, path: Path, *, overwrite: bool = False) -> Path:
        if path.exists() and not overwrite:
            raise ConfigFileError(f"{path} already exists: choose another name or overwrite it.")
        self.last_backup = atomic_write(path, self.text, backup=path.exists())
        self.path = path
        self.saved_text = self.text
        self.stamp = DiskStamp(True, hashlib.sha256(self.text.encode("utf-8")).hexdigest())
        return path


def write_target(path: Path) -> Path:
    """Where saving ``path`` writes: through a symlink (or a chain of them) to the file it names, so
    the link stays a link and the target changes; the temp and ``.bak`` go beside the target."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ConfigFileError(f"Cannot save {path}: the symlink cannot be followed ({exc}).") from exc


def atomic_write(path: Path, text: str, *, backup: bool = True) -> Path | None:
    """Save ``text`` with the common atomic writer (mode kept, old bytes in ``<name>.bak``); returns
    the ``.bak`` written (None when there was no old file to keep, or ``backup`` is False).

    A symlink is written through (``write_target``). A read-only target is refused (a rename would
    silently replace it), and any failure leaves the original file exactly as it was.
    """
    target = write_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigFileError(f"Cannot save {path}: folder {folder} does not exist.")
    mode = existing_mode(target)
    # No write bit at all is read-only even for root, whom os.access always lets write.
    if mode is not None and (not os.access(target, os.W_OK) or not mode & 0o222):
        raise ReadOnlyFile(f"Cannot save {path}: the file is read-only. Save it under another name.")
    try:
        write_atomic(target, text.encode("utf-8"), backup=backup)
    except OSError as exc:
        raise ConfigFileError(f"Cannot save {path}: {exc.strerror or exc}; the file on disk is unchanged.") from exc
    return backup_path(target) if backup and mode is not None else None
