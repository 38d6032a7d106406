"""ConfigDocument: byte-exact round trips, one-line edits, undo/redo, atomic saves, disk conflicts."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.configs import document as config_document
from services.configs.document import ConfigDocument, ConfigFileError, DiskChanged, EditError, atomic_write
from tests.support.paths import ROOT

SHIPPED = [ROOT / "configs" / "crafter_lora_qwen0p6b.toml", ROOT / "configs" / "crafter_fft_qwen0p6b.toml"]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for path in SHIPPED:
        shutil.copy(path, folder / path.name)
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "an edit of one value must not add or remove lines"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def _only_insertions(before: str, after: str) -> list[str]:
    """The lines ``after`` adds; fails if any line of ``before`` was changed or removed."""
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines()).get_opcodes():
        assert tag in ("equal", "insert"), (tag, before.splitlines()[i1:i2], after.splitlines()[j1:j2])
        if tag == "insert":
            added.extend(after.splitlines()[j1:j2])
    return added


# ------------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_round_trips_byte_for_byte(source: Path, configs: Path) -> None:
    path = configs / source.name
    doc = ConfigDocument.load(path)
    assert not doc.dirty and doc.diff() == ""
    assert tomlkit.parse(doc.text).as_string() == doc.text
    doc.save()
    assert path.read_bytes() == source.read_bytes()
    # An edit and its undo give the original bytes back too.
    doc.set_literal("hyperparameters.n_epochs", "3")
    assert doc.undo()
    doc.save()
    assert path.read_bytes() == source.read_bytes()


# Generated documents: keys of tables start with "t_", root keys never do, so names never collide.
_bare = st.from_regex(r"[a-s][a-z0-9_-]{0,6}", fullmatch=True)
_comment = st.from_regex(r"#[ -~]{0,24}", fullmatch=True)
_basic_string = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters='"\\'),
    max_size=10,
).map(lambda s: f'"{s}"')
_scalar = st.one_of(
    st.integers(-(10**9), 10**9).map(str),
    st.sampled_from(
        [
            "5e-6",
            "1e-05",
            "0.03",
            "+1.5",
            "-0.0",
            "inf",
            "-inf",
            "nan",
            "1_000",
            "0x1F",
            "0o17",
            "0b101",
            "true",
            "false",
            '"tab\\tquote\\"esc"',
            "'C:\\path'",
            '"ünïcödé ✓"',
            "1979-05-27T07:32:00Z",
            "1979-05-27",
            "07:32:00",
        ]
    ),
    _basic_string,
    st.from_regex(r"[A-Za-z0-9 .,/-]{0,10}", fullmatch=True).map(lambda s: f"'{s}'"),
)
_sep = st.sampled_from([" = ", "=", "   =  ", "\t=\t"])


@st.composite
def _array(draw: st.DrawFn) -> str:
    items = draw(st.lists(_scalar, max_size=4))
    if draw(st.booleans()) or not items:
        trailing = "," if items and draw(st.booleans()) else ""
        return "[" + ", ".join(items) + trailing + "]"
    # A multi-line array with comments inside.
    body = "".join(f"\n  {item}," + draw(st.sampled_from(["", "  # item"])) for item in items)
    return "[" + body + "\n]"


@st.composite
def _inline_table(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(_bare, _scalar), max_size=3, unique_by=lambda kv: kv[0]))
    return "{" + ", ".join(f"{k} = {v}" for k, v in pairs) + "}" if pairs else "{}"


_value = st.one_of(_scalar, _scalar, _array(), _inline_table())


@dataclass(frozen=True)
class Generated:
    text: str
    editable: tuple[tuple[str, int], ...]  # (dotted key, 0-based line) of single-line bare keys


@st.composite
def toml_documents(draw: st.DrawFn) -> Generated:
    lines: list[str] = []
    editable: list[tuple[str, int]] = []
    if draw(st.booleans()):
        lines.extend([draw(_comment), ""])
    tables = draw(st.lists(_bare.map(lambda k: "t_" + k), max_size=4, unique=True))
    headers: list[tuple[str, str | None]] = [("", None)]
    for table in tables:
        headers.append((table, f"[{table}]"))
        if draw(st.booleans()):
            headers.append((f"{table}.sub", f"[{table}.sub]"))
    if draw(st.booleans()):
        headers.append(("", "[[t_runs]]"))
        headers.append(("", "[[t_runs]]"))
    for table, header in headers:
        if header is not None:
            lines.append(header + draw(st.sampled_from(["", "  # section", " #"])))
        names = draw(
            st.lists(st.tuples(_bare, st.sampled_from(["bare", "dq", "sq", "dq-dot", "sq-space"])), max_size=4)
        )
        seen: set[str] = set()
        for name, style in names:
            key = {"dq-dot": f"{name}.v", "sq-space": f"{name} x"}.get(style, name)
            if key in seen:
                continue
            seen.add(key)
            spelled = {"bare": key, "dq": f'"{key}"', "sq": f"'{key}'", "dq-dot": f'"{key}"', "sq-space": f"'{key}'"}
            for _ in range(draw(st.integers(0, 1))):
                lines.append(draw(_comment))
            value = draw(_value)
            trail = draw(st.sampled_from(["", "  # why", " #x", "\t# tab"]))
            if style == "bare" and "\n" not in value and header != "[[t_runs]]":
                line_number = sum(item.count("\n") + 1 for item in lines)
                editable.append((f"{table}.{key}" if table else key, line_number))
            lines.append(f"{spelled[style]}{draw(_sep)}{value}{trail}")
        lines.extend([""] * draw(st.integers(0, 2)))
    ending = draw(st.sampled_from(["", "\n", "\n\n"]))
    text = "\n".join(lines) + ending
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return Generated(text, tuple(editable))


_HYPOTHESIS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_HYPOTHESIS
@given(gen=toml_documents())
def test_generated_documents_round_trip_byte_for_byte(gen: Generated, tmp_path: Path) -> None:
    tomllib.loads(gen.text)  # the generator only writes valid TOML
    assert tomlkit.parse(gen.text).as_string() == gen.text
    target = tmp_path / "gen.toml"
    target.write_bytes(gen.text.encode("utf-8"))
    doc = ConfigDocument.load(target)
    assert doc.text == gen.text
    doc.save(overwrite=True)
    assert target.read_bytes() == gen.text.encode("utf-8")


@_HYPOTHESIS
@given(gen=toml_documents(), data=st.data())
def test_generated_documents_edit_one_line(gen: Generated, data: st.DataObject) -> None:
    assume(gen.editable and "\r\n" not in gen.text)
    dotted, index = data.draw(st.sampled_from(gen.editable))
    doc = ConfigDocument.new(Path("gen.toml"), gen.text)
    doc.set_literal(dotted, "424242")
    assert tomllib.loads(doc.text)  # still valid
    changed = _changed_lines(gen.text, doc.text)
    assert len(changed) == 1
    before, after = changed[0]
    assert before == gen.text.splitlines()[index]
    assert "424242" in after
    if "#" in before.split("=", 1)[1] and before.rstrip().endswith(("# why", "#x", "# tab")):
        assert after.endswith(before[before.rindex("#") :])  # the trailing comment is kept
    assert doc.undo() and doc.text == gen.text


# ------------------------------------------------------------------------------------ edits


def test_one_edit_changes_only_that_lines_value(configs: Path) -> None:
    path = configs / "crafter_lora_qwen0p6b.toml"
    original = path.read_text(encoding="utf-8")
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.learning_rate", "1e-5")
    assert _changed_lines(original, doc.text) == [("learning_rate = 5e-6", "learning_rate = 1e-5")]
    assert doc.dirty and path.read_text(encoding="utf-8") == original  # nothing written yet
    assert doc.diff().count("\n-learning_rate") == 1 and "+learning_rate = 1e-5" in doc.diff()


def test_edit_keeps_the_comment_on_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    text = '[data]\ntopology = { a = 1, b = "x" }  # keep me\n\n[hp]\nlr   =   5e-6    # peak LR\nn = 1\n'
    path.write_text(text)
    doc = ConfigDocument.load(path)
    doc.set_literal("hp.lr", "2e-5")
    ((before, after),) = _changed_lines(text, doc.text)
    assert before == "lr   =   5e-6    # peak LR"
    assert after.endswith("# peak LR") and "2e-5" in after
    doc.set_value("data.topology.a", 2)
    assert 'topology = { a = 2, b = "x" }  # keep me' in doc.text
    assert len(_changed_lines(text, doc.text)) == 2


def test_literal_spelling_is_kept(tmp_path: Path) -> None:
    doc = ConfigDocument.new(tmp_path / "c.toml", "[hp]\nlr = 1.0\n")
    for spelling in ("1e-5", "0.000_01", "2E-5", '"1e-5"'):
        doc.set_literal("hp.lr", spelling)
        assert doc.text == f"[hp]\nlr = {spelling}\n"
    with pytest.raises(EditError, match="not a TOML value"):
        doc.set_literal("hp.lr", "1e-5 oops")


def test_adding_a_key_and_a_table_only_inserts_lines(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    original = path.read_text(encoding="utf-8")
    doc = ConfigDocument.load(path)
    doc.set_value("hyperparameters.total_steps", 100)
    doc.set_value("training.lora.r", 8)
    doc.set_value("training.lora.alpha", 16)
    doc.set_value("tags.run_name", "fft-a")
    parsed = tomllib.loads(doc.text)
    assert parsed["hyperparameters"]["total_steps"] == 100
    assert parsed["training"]["lora"] == {"r": 8, "alpha": 16}
    assert parsed["tags"] == {"run_name": "fft-a"}
    added = _only_insertions(original, doc.text)
    assert {"total_steps = 100", "r = 8", "alpha = 16", "[tags]", 'run_name = "fft-a"'} <= set(added)
    # The new key sits in its own table, not after the next table's header or after a blank line.
    lines = doc.text.splitlines()
    at = lines.index("total_steps = 100")
    assert lines[at - 1] == "weight_decay = 0.01"
    assert "[training.lora]\nr = 8\nalpha = 16\n" in doc.text
    assert parsed["hyperparameters"]["parallelism"]["bf16"] is True  # neighbours intact


@pytest.mark.parametrize(
    ("text", "dotted"),
    [
        ("[job]\nmodel = 'x'\n", "job.model.name"),  # a string
        ("x = [1, 2]\n", "x.y"),  # an array
        ("a = 1\n[[runs]]\nx = 1\n", "runs.y"),  # an array of tables
    ],
)
def test_setting_inside_a_value_is_an_edit_error(tmp_path: Path, text: str, dotted: str) -> None:
    doc = ConfigDocument.new(tmp_path / "c.toml", text)
    with pytest.raises(EditError, match="is a value, not a table"):
        doc.set_value(dotted, 1)
    doc.remove_value(dotted)  # nothing to remove: a no-op, not a crash
    assert doc.text == text and not doc.can_undo
    with pytest.raises(EditError, match="empty key path"):
        doc.set_value("", 1)


def test_new_key_in_an_inline_table(tmp_path: Path) -> None:
    doc = ConfigDocument.new(tmp_path / "c.toml", "[data]\ntopology = {}  # verbatim\n")
    doc.set_value("data.topology.gpus", 2)
    assert tomllib.loads(doc.text)["data"]["topology"] == {"gpus": 2}
    ((_, after),) = _changed_lines("[data]\ntopology = {}  # verbatim\n", doc.text)
    assert after.startswith("topology = {") and after.endswith("}  # verbatim")
    doc.set_value("data.topology.kind", "single")
    assert tomllib.loads(doc.text)["data"]["topology"] == {"gpus": 2, "kind": "single"}
    doc.remove_value("data.topology.gpus")
    assert tomllib.loads(doc.text)["data"]["topology"] == {"kind": "single"}


def test_edits_refuse_invalid_raw_text(tmp_path: Path) -> None:
    doc = ConfigDocument.new(tmp_path / "c.toml", "[job\n")
    with pytest.raises(EditError, match="line 1"):
        doc.set_value("job.model", "x")
    assert doc.value("job.model") is None


def test_remove_value(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_fft_qwen0p6b.toml")
    doc.remove_value("hyperparameters.weight_decay")
    assert "weight_decay" not in tomllib.loads(doc.text)["hyperparameters"]
    assert doc.value("hyperparameters.learning_rate") == 1e-5
    assert doc.undo() and doc.value("hyperparameters.weight_decay") == 0.01


# ------------------------------------------------------------------------------------ undo / redo


def test_undo_redo(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_lora_qwen0p6b.toml")
    original = doc.text
    assert not doc.can_undo and not doc.undo() and not doc.redo()
    doc.set_literal("hyperparameters.n_epochs", "2")
    doc.set_literal("compute.gpu_count", "4")
    after_two = doc.text
    assert doc.undo() and doc.value("compute.gpu_count") == 1 and doc.value("hyperparameters.n_epochs") == 2
    assert doc.undo() and doc.text == original and not doc.dirty
    assert not doc.undo()
    assert doc.redo() and doc.redo() and doc.text == after_two
    assert not doc.redo()
    # A new edit after an undo drops the redo history.
    assert doc.undo()
    doc.set_literal("hyperparameters.sequence_length", "1024")
    assert not doc.redo()


def test_grouped_edits_are_one_undo_step(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_lora_qwen0p6b.toml")
    original = doc.text
    for typed in (1, 10, 102, 1024):  # one field, typed key by key
        doc.set_value("hyperparameters.sequence_length", typed, group="seq")
    doc.set_value("hyperparameters.n_epochs", 3, group="epochs")
    assert (
        doc.undo()
        and doc.value("hyperparameters.sequence_length") == 1024
        and doc.value("hyperparameters.n_epochs") == 1
    )
    assert doc.undo() and doc.text == original
    # A no-op edit is not an undo step.
    doc.set_text(doc.text)
    assert not doc.can_undo


def test_revert_is_undoable(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_lora_qwen0p6b.toml")
    doc.set_literal("hyperparameters.n_epochs", "7")
    edited = doc.text
    doc.revert()
    assert not doc.dirty
    assert doc.undo() and doc.text == edited


# ------------------------------------------------------------------------------------ saving


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failure_midway_leaves_the_original_intact(
    configs: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    original = path.read_bytes()
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "5")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_document.os, failing, boom)
    with pytest.raises(ConfigFileError, match=r"No space left on device.*unchanged"):
        doc.save()
    assert path.read_bytes() == original
    assert _leftovers(configs) == []
    bak = configs / (path.name + ".bak")
    assert not bak.exists() or bak.read_bytes() == original
    assert doc.dirty and doc.disk_state() == "same"  # the edit is kept; a retry works
    monkeypatch.undo()
    doc.save()
    assert "n_epochs = 5" in path.read_text(encoding="utf-8")


def test_atomic_write_failure_on_a_new_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_document.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(ConfigFileError, match="I/O error"):
        atomic_write(tmp_path / "new.toml", "a = 1\n")
    assert list(tmp_path.iterdir()) == []


def test_save_keeps_exactly_one_backup_of_the_previous_content(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    first = path.read_bytes()
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    doc.save()
    bak = configs / (path.name + ".bak")
    assert bak.read_bytes() == first
    second = path.read_bytes()
    doc.set_literal("hyperparameters.n_epochs", "3")
    doc.save()
    assert bak.read_bytes() == second  # the previous version, not the first
    assert sorted(p.name for p in configs.iterdir() if path.name in p.name) == [path.name, path.name + ".bak"]
    assert _leftovers(configs) == []
    assert not doc.dirty and doc.disk_state() == "same"


def test_change_on_disk_is_detected(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    path.write_text(path.read_text(encoding="utf-8") + "# someone else\n", encoding="utf-8")
    assert doc.disk_state() == "changed"
    with pytest.raises(DiskChanged, match="changed by something else"):
        doc.save()
    assert path.read_text(encoding="utf-8").endswith("# someone else\n")  # untouched
    assert doc.save(overwrite=True) == path
    assert "n_epochs = 2" in path.read_text(encoding="utf-8") and "# someone else" not in path.read_text()
    assert doc.disk_state() == "same"


def test_same_bytes_rewritten_on_disk_are_not_a_change(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    path.write_bytes(path.read_bytes())  # touched, same content
    assert doc.disk_state() == "same"
    doc.save()


def test_deleted_file_is_detected(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    path.unlink()
    assert doc.disk_state() == "deleted"
    with pytest.raises(DiskChanged, match="was deleted"):
        doc.save()
    assert not path.exists()
    doc.save(overwrite=True)
    assert "n_epochs = 2" in path.read_text(encoding="utf-8")


def test_reload_takes_the_disk_version_and_keeps_edits_undoable(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "9")
    path.write_text(path.read_text(encoding="utf-8").replace("n_epochs = 1", "n_epochs = 4"), encoding="utf-8")
    doc.reload()
    assert doc.value("hyperparameters.n_epochs") == 4 and not doc.dirty and doc.disk_state() == "same"
    assert doc.undo() and doc.value("hyperparameters.n_epochs") == 9


def test_save_as(configs: Path) -> None:
    source = configs / "crafter_fft_qwen0p6b.toml"
    other = configs / "crafter_lora_qwen0p6b.toml"
    other_bytes = other.read_bytes()
    doc = ConfigDocument.load(source)
    doc.set_literal("hyperparameters.n_epochs", "2")
    with pytest.raises(ConfigFileError, match="already exists"):
        doc.save_as(other)
    assert other.read_bytes() == other_bytes
    copy = configs / "copy.toml"
    assert doc.save_as(copy) == copy
    assert doc.path == copy and not doc.dirty
    assert "n_epochs = 2" in copy.read_text(encoding="utf-8")
    assert "n_epochs = 1" in source.read_text(encoding="utf-8")  # the source is untouched
    assert stat.S_IMODE(copy.stat().st_mode) == 0o644
    # overwrite=True replaces an existing file (and keeps its backup).
    doc.save_as(other, overwrite=True)
    assert "n_epochs = 2" in other.read_text(encoding="utf-8")
    assert (configs / (other.name + ".bak")).read_bytes() == other_bytes


def test_new_document_saves_once_then_tracks_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "fresh.toml"
    doc = ConfigDocument.new(path, "a = 1\n")
    assert doc.dirty and doc.disk_state() == "same"
    doc.save()
    assert path.read_text() == "a = 1\n" and not doc.dirty
    assert not (tmp_path / "fresh.toml.bak").exists()


def test_read_only_file_is_refused(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    original = path.read_bytes()
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    os.chmod(path, 0o444)
    try:
        # Refused for everyone: a user lacks write permission, and root (for whom os.access always says
        # "writable") would otherwise silently replace a file someone marked read-only.
        with pytest.raises(ConfigFileError, match=r"read-only.*another name"):
            doc.save()
        assert path.read_bytes() == original
        assert _leftovers(configs) == []
        doc.save_as(configs / "elsewhere.toml")
    finally:
        os.chmod(path, 0o644)


def test_read_only_by_permission_is_refused(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root user sees for a file they may not write (simulated, so it runs as root too)."""
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    monkeypatch.setattr(config_document.os, "access", lambda p, mode: False)
    with pytest.raises(ConfigFileError, match="read-only"):
        doc.save()
    assert "n_epochs = 1" in path.read_text(encoding="utf-8")


def test_file_mode_is_preserved(configs: Path) -> None:
    path = configs / "crafter_lora_qwen0p6b.toml"
    os.chmod(path, 0o600)
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    doc.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o664)
    doc.set_literal("hyperparameters.n_epochs", "3")
    doc.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o664


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist"):
        ConfigDocument.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigFileError, match="is a folder"):
        ConfigDocument.load(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"a = 1\n\xff\xfe")
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        ConfigDocument.load(tmp_path / "bin.toml")
    doc = ConfigDocument.new(tmp_path / "missing-dir" / "c.toml", "a = 1\n")
    with pytest.raises(ConfigFileError, match="does not exist"):
        doc.save()


def test_crlf_files_stay_crlf_when_a_key_is_added(tmp_path: Path) -> None:
    path = tmp_path / "win.toml"
    path.write_bytes(b"[hyperparameters]\r\nn_epochs = 1 # one\r\n\r\n[compute]\r\ngpu_count = 1\r\n")
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.learning_rate", "1e-5")
    doc.set_literal("training.lora.r", "8")
    assert "\n" not in doc.text.replace("\r\n", "")
    assert "n_epochs = 1 # one\r\nlearning_rate = 1e-5\r\n" in doc.text
    doc.save()
    assert b"\r\n[training.lora]\r\nr = 8\r\n" in path.read_bytes()
