"""Hostile and careless input (issue 18): one test per finding of the audit.

Each case builds a small seeded project in a temporary folder, breaks one thing, and asserts the
refusal: a message naming the file (and line or column), no traceback, nothing written outside the
project, no raw patient ID in any log.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import TEST_KEY, small_demo_config
from hypothesis import given, settings
from hypothesis import strategies as st

from rxrank import cli, io
from rxrank.check import config_size, load_config
from rxrank.demo import DemoSpec, write_demo
from rxrank.identifiers import clean_ids, normalise_id

ROOT = Path(__file__).resolve().parents[1]
KEY = TEST_KEY


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("small")
    write_demo(base, DemoSpec(n_patients=30, n_genes=300, n_lines=40, seed=3))
    return base


def _project(small: Path, tmp_path: Path, **privacy) -> Path:
    """A copy of the small demo with its config (paths relative, pseudonymisation as given)."""
    work = tmp_path / "project"
    work.mkdir()
    for sub in ("demo", "reference"):
        os.symlink(small / sub, work / sub) if sub == "reference" else None
    (work / "demo").mkdir()
    for f in (small / "demo").iterdir():
        if f.is_file():
            (work / "demo" / f.name).write_bytes(f.read_bytes())
    config = small_demo_config(privacy={"pseudonymize": True, "key_file": None, **privacy})
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work


def _rename_patient(work: Path, old: str, new: str) -> None:
    """Rename a patient in both the clinical table and the expression header."""
    clin = work / "demo/clinical.tsv"
    clin.write_text(clin.read_text().replace(f"\n{old}\t", f"\n{new}\t"))
    expr = work / "demo/expression.tsv.gz"
    text = gzip.decompress(expr.read_bytes()).decode()
    header, rest = text.split("\n", 1)
    expr.write_bytes(gzip.compress((header.replace(f"\t{old}", f"\t{new}") + "\n" + rest).encode()))


def _env() -> dict:
    return {**os.environ, "RXRANK_PSEUDONYM_KEY": KEY}


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a command; ``timeout`` only guards against a hang, it is not a measured limit."""
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


# --- path traversal ----------------------------------------------------------------------------


def test_traversal_id_is_refused_and_nothing_outside_changes(small, tmp_path):
    """With pseudonymisation off, '../../../victim/escaped' used to delete a file outside."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "escaped.html").write_text("keep me")
    work = _project(small, tmp_path, pseudonymize=False)
    _rename_patient(work, "P003", "../victim/escaped")
    outside = _snapshot(tmp_path.parent)
    proc = _run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
         "config.yaml", "--cores", "2"],
        work,
    )  # fmt: skip
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert "demo/clinical.tsv" in message and "line 4" in message
    assert "the patient ID starts with a dot" in message
    assert (victim / "escaped.html").read_text() == "keep me"
    after = _snapshot(tmp_path.parent)
    changed = {k for k in set(outside) | set(after) if outside.get(k) != after.get(k)}
    assert all(k.startswith(f"{tmp_path.name}/project") for k in changed), sorted(changed)[:5]
    assert not (work / "results/ranking").exists()


@pytest.mark.parametrize(
    "bad",
    ["../x", "a/b", "..", ".hidden", "-rf", "a\\b", "a\x00b", "", "x" * 101, "a:b", "P\x01"],
)
def test_ids_that_cannot_be_file_names_are_refused(bad):
    with pytest.raises(io.RxrankInputError, match=r"clin.tsv, line 3: the patient ID"):
        clean_ids(["P1", bad], source="clin.tsv")


# --- IDs that differ only in ways a reader cannot see -------------------------------------------


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ("p001", "letter case"),
        ("P0\u200b01", "invisible characters"),
        ("\u0420001", "CYRILLIC CAPITAL LETTER ER"),  # Cyrillic Р for Latin P
        ("P\uff10\uff10\uff11", "invisible characters, spaces or character width"),  # fullwidth
        (" P001 ", "same patient ID"),
    ],
)
def test_look_alike_ids_collide(other, why):
    with pytest.raises(io.RxrankInputError, match=why):
        clean_ids(["P001", "P002", other], source="clinical.tsv")


def test_ids_are_normalised_nfkc_and_trimmed():
    assert normalise_id(" \ufeffP\u200b001\u202e ") == "P001"
    assert clean_ids(["P1", "P1"], source="long.tsv", unique=False) == ["P1", "P1"]


def test_look_alike_ids_refused_in_the_check(small, tmp_path, capsys, monkeypatch):
    work = _project(small, tmp_path)
    _rename_patient(work, "P004", "\u0420003")  # Cyrillic: would pass as a copy of P003
    monkeypatch.chdir(work)
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    assert cli.main(["check", "config.yaml"]) == 2
    message = "".join(capsys.readouterr())
    assert "demo/expression.tsv.gz" in message and "column 4" in message and "column 5" in message
    assert "look-alike characters (CYRILLIC CAPITAL LETTER ER)" in message
    assert "\u0420003" not in message  # named by line, never by ID


# --- silently accepted --------------------------------------------------------------------------


def test_text_in_the_outcome_column_is_refused(small, tmp_path, capsys, monkeypatch):
    work = _project(small, tmp_path)
    clin = pd.read_csv(work / "demo/clinical.tsv", sep="\t", dtype=str, keep_default_na=False)
    clin.loc[6, "response"] = "abc"
    clin.to_csv(work / "demo/clinical.tsv", sep="\t", index=False)
    monkeypatch.chdir(work)
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    assert cli.main(["check", "config.yaml"]) == 2
    message = "".join(capsys.readouterr())
    assert "line 8" in message and "'response'" in message and "'abc'" in message


def test_empty_annotation_files_are_refused(small, tmp_path, capsys, monkeypatch):
    work = _project(small, tmp_path)
    (work / "demo/cell_lines.tsv").write_text("cell_line\ttissue\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", KEY)
    assert cli.main(["check", "config.yaml"]) == 2
    assert "cell_lines.tsv has a header but no data rows" in "".join(capsys.readouterr())


def test_rows_missing_their_last_cell_are_refused(tmp_path):
    path = tmp_path / "clinical.tsv"
    path.write_text("patient_id\tos_months\tos_event\tage\nP1\t3\t1\t50\nP2\t4\t0\n")
    with pytest.raises(io.RxrankInputError, match=r"clinical.tsv, line 3: 3 field\(s\).* has 4"):
        io.read_clinical(path)


# --- denial of service --------------------------------------------------------------------------


def _bomb(path: Path, base: dict) -> Path:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = (
        "\n".join(lines)
        + "\n"
        + yaml.safe_dump(base).replace("resolutions:", "resolutions: *j\n  old_resolutions:")
    )
    path.write_text(text)
    return path


MEASURED = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(f'peak_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
    "sys.exit(code)"
)


def _run_measured(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``args`` in a fresh process of its own and return its peak memory (MB, with children)."""
    proc = _run([sys.executable, "-c", MEASURED, *args], cwd, timeout=120)
    peak = float(proc.stderr.rsplit("peak_kb=", 1)[1]) / 1024
    return proc, peak


def test_yaml_bomb_is_refused_by_check_and_workflow(small, tmp_path):
    work = _project(small, tmp_path)
    base = yaml.safe_load((work / "config.yaml").read_text())
    bomb = _bomb(work / "bomb.yaml", base)
    assert bomb.stat().st_size < 4000
    with pytest.raises(io.RxrankInputError, match="expands to more than 100,000 values"):
        load_config(bomb)
    assert config_size(yaml.safe_load(bomb.read_text())) > 100_000
    proc, peak = _run_measured([sys.executable, "-m", "rxrank.cli", "check", "bomb.yaml"], work)
    assert proc.returncode == 2 and "aliases" in proc.stderr
    assert peak < 1024
    proc, peak = _run_measured(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
         "bomb.yaml", "--cores", "1", "-n"],
        work,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "expands to more than 100,000 values" in proc.stdout + proc.stderr
    assert peak < 1024


def test_two_gigabyte_table_is_refused_before_parsing(small, tmp_path):
    work = _project(small, tmp_path)
    free = shutil.disk_usage(tmp_path).free
    if free < 8 * 1024**3:
        pytest.skip(f"needs 8 GB free disk for a real 2 GB table; {free / 1024**3:.1f} GB free")
    text = gzip.decompress((work / "demo/expression.tsv.gz").read_bytes())
    header, body = text.split(b"\n", 1)
    block = (body * (1 + (1 << 20) // len(body)))[: 1 << 20]
    block = block[: block.rindex(b"\n") + 1]
    expr = work / "demo/expression.tsv"
    with open(expr, "wb") as fh:  # the demo's rows repeated to 2 GB
        fh.write(header + b"\n")
        for _ in range(2 * 1024**3 // len(block)):
            fh.write(block)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["cohort"]["expression"] = "demo/expression.tsv"
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    try:
        check = [sys.executable, "-m", "rxrank.cli", "check", "config.yaml"]
        proc, peak = _run_measured(check, work)
        assert proc.returncode == 2, proc.stderr
        assert "demo/expression.tsv is 2.0 GB" in proc.stdout
        assert "limits.input_memory_gb" in proc.stdout
        assert peak < 1024
        proc, peak = _run_measured(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
             "config.yaml", "--cores", "1", "-n"],
            work,
        )  # fmt: skip
        assert proc.returncode != 0
        assert "demo/expression.tsv is 2.0 GB" in proc.stdout + proc.stderr
        assert peak < 1024
    finally:
        expr.unlink()


def test_binary_data_under_a_table_name_is_refused(tmp_path):
    path = tmp_path / "expression.tsv"
    path.write_bytes(b"gene\tP1\nA\t1\n")
    with open(path, "r+b") as fh:  # a sparse file: text, then NUL bytes
        fh.truncate(2 * 1024**3)
    with pytest.raises(io.RxrankInputError, match="expression.tsv holds binary data"):
        io.read_table(path, what="expression")


def test_gzip_bomb_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv(io.MEMORY_ENV, "1")
    row = b"G\t" + b"\t".join([b"1"] * 999) + b"\n"
    path = tmp_path / "bomb.tsv.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b"gene\t" + b"\t".join(b"P%d" % i for i in range(999)) + b"\n")
        for _ in range(150):
            fh.write(row * 1000)  # 300 MB of text in about 300 kB
    assert path.stat().st_size < 2_000_000
    with pytest.raises(io.RxrankInputError, match="more than limits.input_memory_gb"):
        io.read_table(path, what="expression")


# --- raw tracebacks -----------------------------------------------------------------------------


def test_stage_reading_a_truncated_gzip_names_the_file(small, tmp_path):
    work = _project(small, tmp_path)
    expr = work / "demo/expression.tsv.gz"
    expr.write_bytes(expr.read_bytes()[:3000])
    params = yaml.safe_load((work / "config.yaml").read_text())
    proc = _run(
        [sys.executable, "-m", "rxrank.cli", "profile", "--params", json.dumps(params),
         "--expression", str(expr), "--clinical", "demo/clinical.tsv",
         "--drugs", "reference/drugs.tsv", "--cohort", "out/cohort.h5ad",
         "--markers", "out/markers.tsv", "--target-z", "out/z.tsv"],
        work,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "demo/expression.tsv.gz is damaged or truncated" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (work / "out").exists() or not any((work / "out").iterdir())


def test_stage_reading_a_non_hdf5_h5ad_names_the_file(small, tmp_path):
    work = _project(small, tmp_path)
    fake = work / "cohort.h5ad"
    fake.write_text("not an HDF5 file")
    params = yaml.safe_dump(yaml.safe_load((work / "config.yaml").read_text()))
    params = json.dumps(yaml.safe_load(params))
    args = ["survival", "--params", params, "--cohort", str(fake), "--eigengenes", "e.tsv",
            "--predictions", "p.tsv", "--outdir", "out"]  # fmt: skip
    proc = _run([sys.executable, "-m", "rxrank.cli", *args], work)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{fake} could not be read" in proc.stderr and "rebuild" in proc.stderr
    proc = _run([sys.executable, "-m", "rxrank.cli", "--debug", *args], work)
    assert "Traceback" in proc.stderr  # --debug shows it, for bug reports


def test_damaged_h5ad_at_dag_time_names_the_file(small, tmp_path):
    fake = tmp_path / "expr.h5ad"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(io.RxrankInputError, match=f"{fake} could not be read as .h5ad"):
        io.expression_sample_ids(fake)


# --- privacy hygiene ----------------------------------------------------------------------------


def test_input_error_leaves_no_raw_patient_id_in_any_log(small, tmp_path):
    work = _project(small, tmp_path)
    clin = pd.read_csv(work / "demo/clinical.tsv", sep="\t", dtype=str, keep_default_na=False)
    raw_id = clin.loc[6, "patient_id"]
    clin.loc[6, "os_months"] = "twelve"
    clin.to_csv(work / "demo/clinical.tsv", sep="\t", index=False)
    proc = _run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile",
         "config.yaml", "--cores", "1"],
        work,
    )  # fmt: skip
    assert proc.returncode != 0
    logs = [*work.joinpath(".snakemake/log").glob("*"), *work.joinpath("logs").glob("*")]
    text = proc.stdout + proc.stderr + "".join(p.read_text() for p in logs if p.is_file())
    assert "line 8" in text and "'twelve'" in text
    assert raw_id not in text


def test_readme_documents_no_refused_config_key():
    readme = (ROOT / "README.md").read_text()
    assert "pseudonym_salt" not in readme


# --- properties of the ID layer and the field-count check ---------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=8))
def test_clean_ids_returns_safe_distinct_ids_or_refuses(raw):
    from rxrank.identifiers import _collision_key, id_problem

    try:
        ids = clean_ids(raw, source="x.tsv")
    except io.RxrankInputError as err:
        assert "x.tsv" in str(err) and "line" in str(err)
        return
    assert all(id_problem(i) is None for i in ids)
    assert len({_collision_key(i) for i in ids}) == len(ids)
    assert [normalise_id(i) for i in ids] == ids  # idempotent


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 6),
    st.lists(st.integers(-1, 1), min_size=1, max_size=30),
    st.booleans(),
)
def test_first_bad_line_finds_the_first_row_of_another_width(n, offsets, crlf):
    from rxrank.io._read import _first_bad_line

    rows = ["\t".join(f"h{j}" for j in range(n))]
    rows += ["\t".join("1" for _ in range(n + d)) for d in offsets]
    path = Path(tempfile.mkdtemp()) / "t.tsv"
    path.write_text(("\r\n" if crlf else "\n").join(rows) + "\n")
    counts = [n + d for d in offsets]
    expected = n + 1 if sum(c == n + 1 for c in counts) > len(counts) / 2 else n
    bad = next((i for i, c in enumerate(counts) if c != expected), None)
    found = _first_bad_line(path, "\t")
    assert found == (None if bad is None else (bad + 2, counts[bad], n))
