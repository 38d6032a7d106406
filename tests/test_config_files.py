"""Config files: exact round trip, one-value edits, atomic saves with a backup, disk conflicts, sweeps, CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import config_document
from services.config_document import ConfigDocument, ConfigFileError, DiskChanged
from services.config_sweep import SweepError, plan_sweep, write_sweep
from services.sft_config_check import check_text
from tui.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "configs" / "crafter_lora_qwen0p6b.toml", ROOT / "configs" / "crafter_fft_qwen0p6b.toml"]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for path in SHIPPED:
        shutil.copy(path, folder / path.name)
    return folder


# ------------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_unchanged_save_is_byte_identical(path: Path, tmp_path: Path) -> None:
    target = tmp_path / path.name
    shutil.copy(path, target)
    doc = ConfigDocument.load(target)
    doc.save(overwrite=True)
    assert target.read_bytes() == path.read_bytes()


_key = st.from_regex(r"[a-r][a-z0-9_]{0,8}", fullmatch=True)  # keys never start with "sec_"
_comment = st.from_regex(r"# [ -~]{0,20}", fullmatch=True)
_scalar = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["5e-6", "1e-05", "0.03", "true", "false", "-0.5", "1_000", "inf"]),
    st.from_regex(r"[A-Za-z0-9 ./-]{0,12}", fullmatch=True).map(lambda s: json.dumps(s)),
    st.from_regex(r"[A-Za-z0-9 ]{0,8}", fullmatch=True).map(lambda s: f"'{s}'"),
)
_value = st.one_of(
    _scalar,
    st.lists(_scalar, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.lists(st.tuples(_key, _scalar), max_size=2, unique_by=lambda kv: kv[0]).map(
        lambda kvs: "{" + ", ".join(f"{k} = {v}" for k, v in kvs) + "}"
    ),
)


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    lines: list[str] = []
    tables = draw(st.lists(_key.map(lambda k: "sec_" + k), min_size=0, max_size=4, unique=True))
    for table in [None, *tables]:
        if table is not None:
            lines.append(f"[{table}]" + draw(st.sampled_from(["", "  # t", " # section"])))
        keys = draw(st.lists(_key, max_size=4, unique=True))
        for key in keys:
            for _ in range(draw(st.integers(0, 1))):
                lines.append(draw(_comment))
            quoted = draw(st.booleans())
            name = f'"{key}"' if quoted else key
            spacing = draw(st.sampled_from([" = ", "=", "   =  "]))
            trail = draw(st.sampled_from(["", "  # why", " #x"]))
            lines.append(f"{name}{spacing}{draw(_value)}{trail}")
        lines.extend([""] * draw(st.integers(0, 2)))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=toml_documents())
def test_generated_documents_round_trip_byte_for_byte(text: str, tmp_path: Path) -> None:
    assert tomlkit.parse(text).as_string() == text
    target = tmp_path / "gen.toml"
    target.write_text(text)
    doc = ConfigDocument.load(target)
    doc.save(overwrite=True)
    assert target.read_text() == text


def test_one_edit_changes_only_that_value(configs: Path) -> None:
    path = configs / "crafter_lora_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.learning_rate", "1e-5")
    doc.set_literal("compute.gpu_count", "2")
    before, after = path.read_text().splitlines(), doc.text.splitlines()
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("gpu_count = 1", "gpu_count = 2"), ("learning_rate = 5e-6", "learning_rate = 1e-5")]


def test_edit_keeps_trailing_comment_and_inline_table(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[data]\ntopology = { a = 1 }  # keep\n\n[hp]\nlr = 5e-6 # peak\n")
    doc = ConfigDocument.load(path)
    doc.set_literal("hp.lr", "2e-5")
    doc.set_value("data.topology.a", 2)
    assert doc.text == "[data]\ntopology = { a = 2 }  # keep\n\n[hp]\nlr = 2e-5 # peak\n"


def test_new_key_and_new_table(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_fft_qwen0p6b.toml")
    doc.set_value("training.lora.r", 8)
    doc.set_value("training.lora.alpha", 16)
    doc.set_value("hyperparameters.total_steps", 100)
    parsed = tomlkit.parse(doc.text)
    assert parsed["training"]["lora"] == {"r": 8, "alpha": 16}  # type: ignore[index]
    assert "[training.lora]\nr = 8\nalpha = 16\n\n" in doc.text
    assert "warmup_ratio = 0.03\n# Type-checked" in doc.text  # untouched neighbours


def test_undo_redo_and_grouped_edits(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_fft_qwen0p6b.toml")
    original = doc.text
    for typed in (2, 20, 204, 2048):  # one field, typed key by key
        doc.set_value("hyperparameters.sequence_length", typed, group="seq")
    assert "sequence_length = 2048" in doc.text
    assert doc.undo() and doc.text == original  # one undo step for one field's typing
    assert doc.redo() and "sequence_length = 2048" in doc.text


# ------------------------------------------------------------------------------------ saving


def test_save_is_atomic_and_keeps_one_backup(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    original = path.read_bytes()
    os.chmod(path, 0o640)
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    doc.save()
    assert "n_epochs = 2" in path.read_text()
    assert (configs / (path.name + ".bak")).read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640
    doc.set_literal("hyperparameters.n_epochs", "3")
    doc.save()
    assert "n_epochs = 2" in (configs / (path.name + ".bak")).read_text()  # one backup, the previous version
    assert not [p for p in configs.iterdir() if p.name.endswith(".tmp")]


def test_failure_midway_leaves_the_original_intact(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    original = path.read_bytes()
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "5")

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_document.os, "replace", boom)
    with pytest.raises(ConfigFileError, match="unchanged"):
        doc.save()
    assert path.read_bytes() == original
    assert not [p for p in configs.iterdir() if p.name.endswith(".tmp")]
    assert doc.dirty  # the edit is still there to retry


def test_change_on_disk_is_detected(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    path.write_text(path.read_text() + "# someone else\n")
    assert doc.disk_state() == "changed"
    with pytest.raises(DiskChanged, match="changed by something else"):
        doc.save()
    assert path.read_text().endswith("# someone else\n")
    doc.save(overwrite=True)
    assert "n_epochs = 2" in path.read_text()
    assert doc.disk_state() == "same"


def test_deleted_file_is_detected_and_can_be_recreated(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    path.unlink()
    assert doc.disk_state() == "deleted"
    with pytest.raises(DiskChanged, match="was deleted"):
        doc.save()
    doc.save(overwrite=True)
    assert path.exists()


def test_reload_keeps_edits_undoable(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "9")
    path.write_text(path.read_text().replace("n_epochs = 1", "n_epochs = 4"))
    doc.reload()
    assert "n_epochs = 4" in doc.text and not doc.dirty
    assert doc.undo() and "n_epochs = 9" in doc.text


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root may write read-only files")
def test_read_only_file_is_refused(configs: Path) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    os.chmod(path, 0o444)
    with pytest.raises(ConfigFileError, match="read-only"):
        doc.save()


def test_read_only_file_is_refused_even_for_root(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = configs / "crafter_fft_qwen0p6b.toml"
    doc = ConfigDocument.load(path)
    doc.set_literal("hyperparameters.n_epochs", "2")
    monkeypatch.setattr(config_document.os, "access", lambda p, mode: False)
    with pytest.raises(ConfigFileError, match="read-only"):
        doc.save()
    assert "n_epochs = 1" in path.read_text()


def test_save_as_refuses_an_existing_file(configs: Path) -> None:
    doc = ConfigDocument.load(configs / "crafter_fft_qwen0p6b.toml")
    with pytest.raises(ConfigFileError, match="already exists"):
        doc.save_as(configs / "crafter_lora_qwen0p6b.toml")
    doc.save_as(configs / "copy.toml")
    assert (configs / "copy.toml").read_bytes() == (configs / "crafter_fft_qwen0p6b.toml").read_bytes()


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="does not exist"):
        ConfigDocument.load(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        ConfigDocument.load(tmp_path / "bin.toml")


# ------------------------------------------------------------------------------------ sweeps


def test_lora_rank_sweep_names_tags_and_validates(configs: Path) -> None:
    plan = plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "lora_rank", "4,8,16,64")
    names = [cell.path.name for cell in plan.cells]
    assert names == [f"crafter_lora_qwen0p6b-lora_rank-{r}.toml" for r in (4, 8, 16, 64)]
    assert plan.out_dir == configs / "sweeps" / "crafter_lora_qwen0p6b-lora_rank"
    for cell, rank in zip(plan.cells, (4, 8, 16, 64), strict=True):
        doc = tomlkit.parse(cell.text)
        assert doc["training"]["lora"]["r"] == rank  # type: ignore[index]
        assert doc["tags"]["run_name"] == f"crafter_lora_qwen0p6b-lora_rank-{rank}"  # type: ignore[index]
        assert "# QLoRA SFT of Qwen3-0.6B" in cell.text  # the base's comments survive
        report = check_text(cell.text, cell.path)
        assert report.submittable and report.extras["lora_rank"] == rank
    written = write_sweep(plan)
    assert [p.name for p in written[:-1]] == names and written[-1].name == "sweep.json"
    manifest = json.loads(written[-1].read_text())
    assert [c["value"] for c in manifest["cells"]] == ["4", "8", "16", "64"]
    with pytest.raises(SweepError, match="already exists"):
        write_sweep(plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "lora_rank", "4"))


def test_lora_rank_on_fft_is_refused(configs: Path) -> None:
    with pytest.raises(SweepError, match="full finetune"):
        plan_sweep(configs / "crafter_fft_qwen0p6b.toml", "lora_rank", "8")


def test_method_sweep_switches_every_flag(configs: Path) -> None:
    plan = plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "method", "lora,qlora,fft")
    expected = {
        "lora": ("lora", "lora", False, "peft"),
        "qlora": ("lora", "lora", True, "peft"),
        "fft": ("fft", "sft_offline", False, "fft"),
    }
    for cell in plan.cells:
        doc = tomlkit.parse(cell.text)
        got = (
            doc["algorithm"]["variety"],  # type: ignore[index]
            doc["training"]["mode"],  # type: ignore[index]
            doc["training"]["use_qlora"],  # type: ignore[index]
            doc["hyperparameters"]["train_kind"],  # type: ignore[index]
        )
        assert got == expected[cell.value]
        assert not cell.errors


def test_learning_rate_keeps_its_spelling(configs: Path) -> None:
    plan = plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "learning_rate", "1e-5,2e-5,0.0001")
    assert "learning_rate = 1e-5\n" in plan.cells[0].text
    assert [c.path.name.split("-learning_rate-")[1] for c in plan.cells] == ["1e-5.toml", "2e-5.toml", "0.0001.toml"]
    with pytest.raises(SweepError):
        plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "learning_rate", "fast")


def test_hold_global_batch_arithmetic(configs: Path, tmp_path: Path) -> None:
    base = configs / "crafter_lora_qwen0p6b.toml"  # 2 × 32 × 1 = 64
    plan = plan_sweep(base, "per_device_batch", "1,4,8", hold_global_batch=True)
    assert [(c.global_batch, c.gradient_accumulation_steps) for c in plan.cells] == [(64, 64), (64, 16), (64, 8)]
    gpus = plan_sweep(base, "gpu_count", "1,2,4", hold_global_batch=True)
    assert [c.gradient_accumulation_steps for c in gpus.cells] == [32, 16, 8]
    loose = plan_sweep(base, "per_device_batch", "4")
    assert loose.cells[0].global_batch == 128  # not held: 4 × 32
    bad = plan_sweep(base, "per_device_batch", "3,4", hold_global_batch=True, out_dir=tmp_path / "out")
    assert bad.cells[0].problems and not bad.writable
    with pytest.raises(SweepError, match="cannot be held"):
        write_sweep(bad)
    assert not (tmp_path / "out").exists()  # nothing written


def test_examples_and_dataset_axes(configs: Path) -> None:
    plan = plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "examples", "500,1000")
    assert [c.examples for c in plan.cells] == [500, 1000]
    assert tomlkit.parse(plan.cells[0].text)["tags"]["examples"] == 500  # type: ignore[index]
    data = plan_sweep(configs / "crafter_lora_qwen0p6b.toml", "dataset", "ft_data/top10.jsonl,ft_data/all.jsonl")
    assert [c.path.name for c in data.cells] == [
        "crafter_lora_qwen0p6b-dataset-top10.toml",
        "crafter_lora_qwen0p6b-dataset-all.toml",
    ]
    assert tomlkit.parse(data.cells[0].text)["job"]["data"] == "ft_data/top10.jsonl"  # type: ignore[index]


# ------------------------------------------------------------------------------------ CLI


def test_cli_validate_exit_codes(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", *map(str, sorted(configs.glob("*.toml")))]) == 0
    assert "weight_decay" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\n")
    assert main(["config", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "line 1" in out and "Traceback" not in out
    assert main(["config", "validate", str(tmp_path / "missing.toml")]) == 1
    assert "Config not found" in capsys.readouterr().out
    assert main(["config", "validate", "--json", str(configs / "crafter_lora_qwen0p6b.toml")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["submittable"] is True


def test_cli_payload_prints_exact_json(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"messages": [{"role": "user", "content": "x"}]}\n')
    lora = configs / "crafter_lora_qwen0p6b.toml"
    lora.write_text(lora.read_text().replace("# [training.lora]\n# r = 16", "[training.lora]\nr = 16"))
    assert main(["config", "payload", str(lora), "--dataset", str(dataset)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["training_file_id"] == "file_<training>" and body["hyperparameters"]["lora_rank"] == 16
    assert main(["config", "payload", str(lora), "--dataset", str(dataset), "--cli-exact"]) == 0
    assert "lora_rank" not in json.loads(capsys.readouterr().out)["hyperparameters"]
    assert main(["config", "payload", str(lora)]) == 1
    assert "Dataset not specified" in capsys.readouterr().err


def test_cli_sweep_dry_run_then_write(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = configs / "crafter_lora_qwen0p6b.toml"
    args = ["config", "sweep", str(base), "--axis", "lora_rank", "--values", "4,8"]
    assert main([*args, "--dry-run"]) == 0
    assert not (configs / "sweeps").exists()
    assert main(args) == 0
    assert len(list((configs / "sweeps" / "crafter_lora_qwen0p6b-lora_rank").glob("*.toml"))) == 2
    assert main(args) == 1  # exists: refused without --overwrite
    assert main([*args, "--overwrite"]) == 0
