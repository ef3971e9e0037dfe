"""Validation catalogue: every malformed input or config gets a message naming what, where and the fix.

Each case starts from a small valid seeded cohort, breaks one thing, and runs ``rxrank check`` (the
workflow's first rule): it must exit non-zero, say what is wrong and where, and write no summary.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import small_demo_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rxrank import cli
from rxrank.check import run_check
from rxrank.demo import DemoSpec, write_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("valid")
    write_demo(base, DemoSpec(n_patients=30, n_genes=300, n_lines=40, seed=3))
    config = small_demo_config(privacy={"pseudonymize": False})
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    return base


def _case(valid: Path, tmp_path: Path) -> Path:
    work = tmp_path / "case"
    shutil.copytree(valid, work)
    return work


def _edit_config(work: Path, change: Callable[[dict], None]) -> None:
    config = yaml.safe_load((work / "config.yaml").read_text())
    change(config)
    (work / "config.yaml").write_text(yaml.safe_dump(config))


def _edit_table(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame], **read) -> None:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, **read)
    frame = change(frame)
    frame.to_csv(path, sep="\t", index=bool(read))


def _text(path: Path, change: Callable[[str], str]) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as fh:
            text = fh.read()
        with gzip.open(path, "wt") as fh:
            fh.write(change(text))
    else:
        path.write_text(change(path.read_text()))


EXPR = "demo/expression.tsv.gz"
CLIN = "demo/clinical.tsv"
REF = "demo/reference_expression.tsv.gz"
RESP = "demo/reference_response.tsv"
DRUGS = "reference/drugs.tsv"


def set_cell(rel, row, col, value, **read):
    def change(frame):
        frame = frame.copy()
        frame.iloc[row, frame.columns.get_loc(col) if isinstance(col, str) else col] = value
        return frame

    return lambda w: _edit_table(w / rel, change, **read)


def config_change(func):
    return lambda w: _edit_config(w, func)


CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    # --- config ---
    "misspelled key": (
        config_change(
            lambda c: c["sensitivity"].update(n_top_gene=c["sensitivity"].pop("n_top_genes"))
        ),
        ["sensitivity.n_top_gene", "did you mean 'n_top_genes'"],
    ),
    "misspelled section": (
        config_change(lambda c: c.update(sensitvity=c.pop("sensitivity"))),
        ["unknown key 'sensitvity'", "did you mean 'sensitivity'"],
    ),
    "bad expression_type": (
        config_change(lambda c: c["cohort"].update(expression_type="count")),
        ["cohort.expression_type", "'count'", "counts, tpm, log"],
    ),
    "required key missing": (  # a setting with a default (time_column...) is never required
        config_change(lambda c: c["cohort"].pop("clinical")),
        ["cohort", "clinical", "required"],
    ),
    "wrong type": (
        config_change(lambda c: c["sensitivity"].update(cv_folds="five")),
        ["sensitivity.cv_folds", "'five'"],
    ),
    "input path does not exist": (
        config_change(lambda c: c["cohort"].update(clinical="demo/clinicl.tsv")),
        ["cohort.clinical", "demo/clinicl.tsv", "does not exist"],
    ),
    "reference path does not exist": (
        config_change(lambda c: c["reference"].update(response="nope/resp.tsv")),
        ["reference.response", "nope/resp.tsv"],
    ),
    "unknown model": (
        config_change(lambda c: c["sensitivity"].update(model="svm")),
        ["sensitivity.model", "ridge, elastic_net, random_forest"],
    ),
    # --- expression ---
    "empty expression file": (
        lambda w: (w / EXPR).write_bytes(gzip.compress(b"")),
        [EXPR, "empty"],
    ),
    "comma-separated expression named .tsv": (
        lambda w: _text(w / EXPR, lambda t: t.replace("\t", ",")),
        [EXPR, "single column", "comma"],
    ),
    "non-numeric expression cell": (
        set_cell(EXPR, 4, "P003", "12,5", compression="gzip", index_col=0),
        [EXPR, "'12,5'", "line 6, column 4", "numbers"],
    ),
    "Excel error value": (
        set_cell(EXPR, 7, "P010", "#DIV/0!", compression="gzip", index_col=0),
        [EXPR, "'#DIV/0!'", "line 9, column 11"],
    ),
    "missing expression value": (
        set_cell(EXPR, 2, "P005", "", compression="gzip", index_col=0),
        [EXPR, "missing", "column 6 of the header"],
    ),
    "infinite expression value": (
        set_cell(EXPR, 2, "P005", "inf", compression="gzip", index_col=0),
        [EXPR, "infinite", "column 6 of the header"],
    ),
    "negative count": (
        set_cell(EXPR, 3, "P002", "-4", compression="gzip", index_col=0),
        [EXPR, "negative count", "column 3 of the header", "expression_type: log"],
    ),
    "non-integer counts": (
        set_cell(EXPR, 3, "P002", "4.5", compression="gzip", index_col=0),
        [EXPR, "non-integer", "expression_type: tpm"],
    ),
    "duplicate patient in expression": (
        lambda w: _text(w / EXPR, lambda t: t.replace("\tP002\t", "\tP001\t", 1)),
        [EXPR, "column 2 of the header and column 3 of the header", "same patient ID"],
    ),
    "mouse Ensembl IDs": (
        lambda w: _edit_table(
            w / EXPR,
            lambda f: f.set_axis([f"ENSMUSG{i:011d}" for i in range(len(f))]),
            compression="gzip",
            index_col=0,
        ),
        ["mouse", "ENSMUSG", "orthologues"],
    ),
    "mouse symbols": (
        lambda w: _edit_table(
            w / EXPR,
            lambda f: f.set_axis([g.capitalize() for g in f.index]),
            compression="gzip",
            index_col=0,
        ),
        ["mouse or rat symbols", "upper case"],
    ),
    # --- clinical ---
    "survival time zero": (
        set_cell(CLIN, 3, "os_months", "0"),
        [CLIN, "line 5", "os_months", "positive"],
    ),
    "survival time negative": (set_cell(CLIN, 3, "os_months", "-2"), [CLIN, "line 5", "os_months"]),
    "survival times in days": (
        lambda w: _edit_table(
            w / CLIN,
            lambda f: f.assign(
                os_months=(f["os_months"].astype(float) * 30.44).round(0).astype(str)
            ),
        ),
        [CLIN, "'os_months'", "years of median follow-up", "divide by 30.44"],
    ),
    "survival time missing": (set_cell(CLIN, 5, "os_months", ""), [CLIN, "line 7", "os_months"]),
    "survival time text": (
        set_cell(CLIN, 5, "os_months", "12 months"),
        [CLIN, "'12 months'", "line 7"],
    ),
    "event not 0/1": (
        set_cell(CLIN, 6, "os_event", "yes"),
        [CLIN, "os_event", "line 8", "0 (censored)"],
    ),
    "event 2": (set_cell(CLIN, 6, "os_event", "2"), [CLIN, "os_event", "line 8"]),
    "duplicate patient in clinical": (
        set_cell(CLIN, 1, "patient_id", "P001"),
        [CLIN, "same patient ID", "line 2 and line 3"],
    ),
    "clinical column missing": (
        lambda w: _edit_table(w / CLIN, lambda f: f.drop(columns="os_event")),
        [CLIN, "os_event", "lacks column"],
    ),
    "single-level covariate": (
        lambda w: _edit_table(w / CLIN, lambda f: f.assign(stage="II")),
        [CLIN, "'stage'", "single value", "cohort.covariates"],
    ),
    "covariate column absent": (
        config_change(lambda c: c["cohort"].update(covariates=["age", "grade"])),
        ["'grade'", "cohort.covariates"],
    ),
    "unknown reference arm": (
        config_change(lambda c: c["cohort"].update(reference_arm="placebo")),
        ["'placebo'", "treatment"],
    ),
    "no shared patient IDs": (
        lambda w: _edit_table(w / CLIN, lambda f: f.assign(patient_id=f["patient_id"].str.lower())),
        ["no patient ID is in both", "match exactly"],
    ),
    "semicolon-separated clinical": (
        lambda w: _text(w / CLIN, lambda t: t.replace("\t", ";")),
        [CLIN, "single column"],
    ),
    # --- reference ---
    "no shared genes": (
        lambda w: _edit_table(
            w / REF,
            lambda f: f.set_axis([f"X{i}" for i in range(len(f))]),
            compression="gzip",
            index_col=0,
        ),
        ["share no gene IDs", "identifier type"],
    ),
    "too few shared genes": (
        lambda w: _edit_table(
            w / REF,
            lambda f: f.set_axis([*f.index[:40], *(f"X{i}" for i in range(len(f) - 40))]),
            compression="gzip",
            index_col=0,
        ),
        ["share only 40 genes", "sensitivity.min_shared_genes"],
    ),
    "response non-numeric": (set_cell(RESP, 9, "ln_ic50", "high"), [RESP, "'high'", "ln_ic50"]),
    "response missing column": (
        lambda w: _edit_table(w / RESP, lambda f: f.rename(columns={"drug": "compound"})),
        [RESP, "drug"],
    ),
    "too few cell lines per drug": (
        config_change(lambda c: c["sensitivity"].update(min_lines=200)),
        ["min_lines=200", "no drug"],
    ),
    "cell-line IDs do not match": (
        lambda w: _edit_table(w / RESP, lambda f: f.assign(cell_line="X" + f["cell_line"])),
        ["no cell line of", "cell_line_id"],
    ),
    "duplicate drug annotation": (
        set_cell(DRUGS, 1, "drug", "Erlotinib"),
        [DRUGS, "duplicate drug"],
    ),
}


# --- ten generic corruptions of every input table (issue 18's catalogue) ---------------------------
INPUTS = {
    EXPR: ("cohort", "expression"),
    CLIN: ("cohort", "clinical"),
    REF: ("reference", "expression"),
    RESP: ("reference", "response"),
    DRUGS: ("reference", "drugs"),
    "demo/cell_lines.tsv": ("reference", "cell_lines"),
    "demo/cell_line_features.tsv": ("reference", "binary_features"),
}


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _put(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _lines(path: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    _put(path, b"\n".join(change(_raw(path).split(b"\n"))))


def _drop_last_field(lines: list[bytes], i: int) -> list[bytes]:
    lines[i] = lines[i].rsplit(b"\t", 1)[0]
    return lines


def _extra_field(lines: list[bytes], i: int) -> list[bytes]:
    lines[i] = lines[i] + b"\t1"
    return lines


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".gz":
        path.write_bytes(data[: len(data) // 2])  # a copy interrupted half way
    else:  # cut in the middle of the file, just before a delimiter: the last row loses cells
        cut = data.index(b"\t", data.index(b"\n", len(data) // 2))
        path.write_bytes(data[:cut])


GENERIC: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "row missing its last cell": (
        lambda p: _lines(p, lambda ls: _drop_last_field(ls, 3)),
        ["line 4", "field(s) where the header has"],
    ),
    "row with an extra cell": (
        lambda p: _lines(p, lambda ls: _extra_field(ls, 5)),
        ["line 6", "field(s) where the header has"],
    ),
    "header only": (lambda p: _lines(p, lambda ls: ls[:1]), ["no data rows"]),
    "empty file": (lambda p: p.write_bytes(b""), ["empty"]),
    "truncated copy": (_truncate, []),
    "not UTF-8 (Latin-1 export)": (
        lambda p: _put(p, _raw(p).replace(b"\n", " caf\xe9\n".encode("latin-1"), 3)),
        ["not UTF-8"],
    ),
    "Excel workbook saved under the table's name": (
        lambda p: p.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4),
        [],
    ),
    "web page saved instead of the table": (
        lambda p: _put(p, b"<!DOCTYPE html>\n<html><body>Sign in\tto download</body></html>\n"),
        [],
    ),
    "comma-separated under a .tsv name": (
        lambda p: _put(p, _raw(p).replace(b"\t", b",")),
        ["single column"],
    ),
    "file missing": (lambda p: p.unlink(), ["does not exist"]),
}
for _rel in INPUTS:
    for _name, (_breaker, _words) in GENERIC.items():
        CASES[f"{_rel}: {_name}"] = (
            lambda w, b=_breaker, r=_rel: b(w / r),
            [_rel, *_words],
        )


def test_every_input_is_corrupted_in_ten_ways():
    for rel in INPUTS:
        assert (
            sum(name.startswith(f"{rel}:") or rel in words for name, (_, words) in CASES.items())
            >= 10
        )


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_refused_clearly(name, valid, tmp_path, capsys, monkeypatch):
    breaker, fragments = CASES[name]
    work = _case(valid, tmp_path)
    breaker(work)
    monkeypatch.chdir(work)
    out = work / "results" / "check" / "summary.json"
    code = cli.main(["check", "config.yaml", "--out", str(out)])
    captured = capsys.readouterr()
    message = captured.out + captured.err
    assert code != 0, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not out.exists()
    assert not (work / "results").exists() or not any((work / "results").rglob("*"))


def test_case_count():
    assert len(CASES) >= 30


def test_valid_inputs_pass_with_a_summary(valid, tmp_path, capsys, monkeypatch):
    work = _case(valid, tmp_path)
    monkeypatch.chdir(work)
    assert cli.main(["check", "config.yaml", "--out", "results/check/summary.json"]) == 0
    text = capsys.readouterr().out
    assert "OK" in text and "patients with expression and clinical: 30" in text
    assert (work / "results/check/summary.json").exists()


def test_patients_missing_one_table_are_warned(valid, tmp_path, capsys, monkeypatch):
    work = _case(valid, tmp_path)
    _edit_table(work / CLIN, lambda f: f.iloc[2:])
    monkeypatch.chdir(work)
    report, _ = run_check("config.yaml")
    assert report.ok
    assert any("no row in" in w and "P001" in w for w in report.warnings)


def test_left_out_patients_are_named_by_own_id_on_the_console_only(
    valid, tmp_path, capsys, monkeypatch
):
    """With pseudonymisation on, the console lists each left-out patient by the user's own ID and
    clinical-file line (so they know which row to fix); summary.json names pseudonyms only."""
    work = _case(valid, tmp_path)
    _edit_config(work, lambda c: c.update(privacy={"pseudonymize": True, "key_file": None}))

    def edit(f: pd.DataFrame) -> pd.DataFrame:
        f = f.iloc[2:].copy()  # P001, P002: expression only
        f.loc[f["patient_id"] == "P005", "age"] = ""  # empty covariate
        extra = f.iloc[[0]].assign(patient_id="X999")  # clinical only, last line
        return pd.concat([f, extra])

    _edit_table(work / CLIN, edit)
    monkeypatch.chdir(work)
    monkeypatch.setenv("RXRANK_PSEUDONYM_KEY", "a test secret of some length")
    assert cli.main(["check", "config.yaml", "--out", "results/check/summary.json"]) == 0
    text = capsys.readouterr().out
    console = text.split("by your own IDs", 1)[1]
    assert f"P001: in {EXPR}, no row in {CLIN}" in console
    assert f"X999: {CLIN} line 30, no expression in {EXPR}" in console  # 28 kept + header + 1
    assert f"P005: {CLIN} line 4, empty 'age'" in console  # P003 is line 2 now
    summary = (work / "results/check/summary.json").read_text()
    assert "empty survival covariate" in summary and "2 patient(s) in" in summary
    for own in ("P001", "P002", "P005", "X999"):
        assert own not in summary


@pytest.mark.parametrize("section,what", [("cohort", "patient"), ("reference", "cell line")])
def test_wrong_orientation_is_one_message_with_the_fix(valid, tmp_path, section, what, monkeypatch):
    """A file read the wrong way round used to cascade into eight errors (no patient in common,
    covariates with a single value, no shared genes...): now one, naming the setting."""
    work = _case(valid, tmp_path)
    _edit_config(work, lambda c: c[section].update(orientation="samples_by_genes"))
    monkeypatch.chdir(work)
    report, _ = run_check("config.yaml")
    assert len(report.errors) == 1, report.errors
    assert f"holds its {what} IDs" in report.errors[0]
    assert f"Set {section}.orientation: genes_by_samples" in report.errors[0]
    assert not any("left out" in w for w in report.warnings)


def test_stage_failure_leaves_no_output(valid, tmp_path, monkeypatch):
    """A stage given bad input exits non-zero and writes none of its outputs."""
    work = _case(valid, tmp_path)
    set_cell(EXPR, 3, "P002", "-4", compression="gzip", index_col=0)(work)
    monkeypatch.chdir(work)
    import json

    config = yaml.safe_load((work / "config.yaml").read_text())
    outs = [
        "results/profiling/cohort.h5ad",
        "results/profiling/markers.tsv",
        "results/profiling/z.tsv",
    ]
    code = cli.main(
        ["profile", "--params", json.dumps(config), "--expression", EXPR, "--clinical", CLIN,
         "--drugs", DRUGS, "--cohort", outs[0], "--markers", outs[1], "--target-z", outs[2]]
    )  # fmt: skip
    assert code == 2
    assert not any(Path(o).exists() for o in outs)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_fuzz_clinical_reader(tmp_path, text):
    from rxrank import io

    path = tmp_path / "fuzz_clinical.tsv"
    path.write_text(text, encoding="utf-8")
    try:
        frame = io.read_clinical(path)
    except io.RxrankInputError:
        return
    assert (frame["os_months"] > 0).all() and frame["os_event"].isin([0, 1]).all()


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["cohort", "reference", "sensitivity", "sensitvity", "ranking", "x"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.dictionaries(st.text(max_size=4), st.integers()),
        ),
        max_size=4,
    )
)
def test_fuzz_config_gives_messages_not_exceptions(config):
    from rxrank.check import check_config

    errors = check_config(config, path="fuzz.yaml")
    assert all(isinstance(e, str) and "fuzz.yaml" in e for e in errors)
