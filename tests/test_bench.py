"""Smoke tests of the benchmark harness (bench/) at toy sizes: no timing assertions.

They check that each benchmark function returns rows with the expected keys, that the equality checks
inside the ridge benchmark pass (rxrank's MaskedRidge vs a scikit-learn RidgeCV loop), that the
markdown update keeps the hand-written intro and the sections of benchmarks that did not run, that
run.py's sizes fit every benchmark function, and the workflow benchmarks on a 40-patient cohort (dry
runs with both profiles; a real run up to the first rule, with its per-rule table) and the plot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.bench
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import correlation, report, ridge, synth  # noqa: E402
from bench.measure import PeakRSS, Peer, interleaved  # noqa: E402
from bench.run import BENCHMARKS, parse_args  # noqa: E402

ROW_KEYS = {"impl", "repeats", "time_s", "time_min_s", "time_max_s", "peak_mib"}


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module", params=[0.2, 0.5], ids=["schur-route", "direct-route"])
def ridge_result(request):
    return ridge.bench_ridge(40, 150, 4, missing=request.param, repeats=1, seed=3, log=quiet)


@pytest.fixture(scope="module")
def scaling_rows():
    return ridge.bench_ridge_scaling(
        120,
        base=(40, 4, 0.2),
        lines=(20, 40),
        drugs=(2, 4),
        missing=(0.0, 0.2, 0.5),
        repeats=1,
        log=quiet,
    )


@pytest.fixture(scope="module")
def corr_result():
    return correlation.bench_correlation(
        30, (20, 40, 60), repeats=1, pandas_max_genes=20, isolate_from=60, log=quiet
    )


def test_synthetic_screen_is_seeded_and_has_holes():
    a = synth.screen(60, 50, 8, missing=0.3, seed=7)
    b = synth.screen(60, 50, 8, missing=0.3, seed=7)
    c = synth.screen(60, 50, 8, missing=0.3, seed=8)
    assert a.X.dtype == np.float32 and a.X.shape == (60, 50) and a.Y.shape == (60, 8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert not np.array_equal(a.X, c.X)
    frac = np.isnan(a.Y).mean()
    assert 0.15 < frac < 0.45
    assert (~np.isnan(a.Y)).sum(0).min() >= 3
    assert synth.screen(10, 5, 3, missing=0.0).Y.size == 30
    assert not np.isnan(synth.screen(10, 5, 3, missing=0.0).Y).any()


def test_ridge_rows_and_equality(ridge_result):
    assert set(ridge_result) == {"config", "rows", "checks"}
    rows = ridge_result["rows"]
    assert {r["impl"] for r in rows} == {ridge.RXRANK, ridge.SKLEARN}
    for r in rows:
        assert ROW_KEYS | {"speedup", "lines", "genes", "drugs", "missing", "alphas"} <= set(r)
        assert r["repeats"] == 1 and r["time_s"] > 0
    checks = ridge_result["checks"]
    assert checks["alpha_identical"] and checks["alpha_mismatches"] == 0
    assert checks["max_abs_coef_diff"] < 1e-8
    assert checks["max_abs_intercept_diff"] < 1e-8


def test_ridge_scaling_rows(scaling_rows):
    varied = {r["varied"] for r in scaling_rows}
    assert varied == {"lines", "drugs", "missing"}
    assert len(scaling_rows) == 2 + 2 + 3
    for r in scaling_rows:
        assert {"varied", "time_vs_base", "lines", "drugs", "missing", "time_s", "peak_mib"} <= set(
            r
        )
    base = [r for r in scaling_rows if (r["lines"], r["drugs"], r["missing"]) == (40, 4, 0.2)]
    assert base and all(r["time_vs_base"] == 1.0 for r in base)


def test_correlation_rows_and_agreement(corr_result):
    rows = corr_result["rows"]
    impls = {(r["genes"], r["impl"]) for r in rows}
    assert (20, correlation.PANDAS) in impls and (40, correlation.PANDAS) not in impls
    for g in (20, 40, 60):
        for name in (correlation.RXRANK, correlation.NUMPY, correlation.GEMM):
            assert (g, name) in impls
    for r in rows:
        assert ROW_KEYS | {"genes", "samples", "failures", "time_vs_rxrank", "isolated"} <= set(r)
        assert r["failures"] == [] and r["repeats"] == 1
    isolated = [r for r in rows if r["isolated"]]
    assert [(r["genes"], r["impl"]) for r in isolated] == [(60, correlation.NUMPY)]
    agr20, agr40 = corr_result["agreement"]  # numpy ran in this process at 20 and 40 genes
    assert agr20["genes"] == 20 and agr40["genes"] == 40 and correlation.PANDAS not in agr40
    assert agr20[correlation.RXRANK] < 1e-5 and agr20[correlation.PANDAS] < 1e-10
    assert agr40[correlation.RXRANK] < 1e-5 and agr40[correlation.GEMM] < 1e-5


def test_subprocess_crash_is_a_result_not_fatal():
    out = correlation.corrcoef_in_subprocess(10, 10, 0, what="crash")
    assert out.seconds is None and out.result == "crashed (SIGSEGV)"
    peers = [Peer("crashy", lambda: out, 2), Peer("fine", lambda: 1, 2)]
    t = interleaved(peers, log=quiet)
    assert t["crashy"].failures == ["crashed (SIGSEGV)"] * 2 and not t["crashy"].seconds
    assert len(t["fine"].seconds) == 2 and t["fine"].result == 1


def test_peak_rss_sees_a_large_allocation():
    with PeakRSS() as mem:
        a = np.ones((4000, 4000))  # 128 MB
        del a
    assert mem.increase > 64 * 2**20


def test_markdown_update_keeps_intro_and_other_sections(
    tmp_path, ridge_result, scaling_rows, corr_result
):
    run = {"date": "today", "command": "python -m bench", "mode": "quick", "elapsed_s": 1.0}
    ridge_md = report.ridge_section({"headline": ridge_result, "scaling": scaling_rows}, run)
    corr_md = report.correlation_section(corr_result, run)
    assert "PASS" in ridge_md and "grows with" in ridge_md and "subprocess" in corr_md
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# My intro\n\nhand-written text\n")
    report.update_file(out, {"ridge": ridge_md, "correlation": corr_md})
    text = report.update_file(out, {"ridge": ridge_md.replace("PASS", "PASSED-AGAIN")})
    intro, sections = report.split_file(text)
    assert intro.startswith("# My intro") and "hand-written text" in intro
    assert set(sections) == {"ridge", "correlation"}
    assert "PASSED-AGAIN" in sections["ridge"] and sections["correlation"] == corr_md.strip() + "\n"
    assert text.count(report.MARKER) == 1


def test_crashed_row_renders():
    row = {
        "samples": 5,
        "genes": 20000,
        "impl": correlation.NUMPY,
        "repeats": 0,
        "failures": ["crashed (SIGSEGV)"] * 3,
        "time_s": float("nan"),
        "time_min_s": float("nan"),
        "time_max_s": float("nan"),
        "peak_mib": float("nan"),
        "time_vs_rxrank": float("nan"),
        "isolated": True,
    }
    rx = {**row, "impl": correlation.RXRANK, "repeats": 3, "failures": [], "isolated": False}
    rx.update(time_s=1.0, time_min_s=1.0, time_max_s=1.0, peak_mib=10.0, time_vs_rxrank=1.0)
    md = report.correlation_section(
        {"rows": [rx, row], "agreement": []},
        {
            "date": "d",
            "command": "c",
            "mode": "full",
            "elapsed_s": 60.0,
        },
    )
    assert "**crashed (SIGSEGV)**" in md and "failed in 3 of 3 repeats" in md


def test_cli_arguments():
    args = parse_args(["--quick", "--only", "ridge", "--repeats", "2"])
    assert args.quick and args.only == ["ridge"] and args.repeats == 2 and args.slow_repeats == 1
    assert parse_args([]).only == list(BENCHMARKS)
    assert {"ridge", "correlation", "reports"} <= set(BENCHMARKS)
    with pytest.raises(SystemExit):
        parse_args(["--only", "nonsense"])


def test_reports_benchmark_at_toy_size():
    from bench.reports import bench_reports

    res = bench_reports(6, 5, 20, peer_patients=2, repeats=1, log=lambda _: None)
    assert res["pages"] == 7  # six patients and the index
    assert 0 < res["median_kb"] < 1000 and res["ratio"] > 0
    run = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 1.0}
    text = report.reports_section(res, run)
    assert "6 patients x 5 drugs" in text and "matplotlib figures only" in text


def test_survival_benchmark_agrees_with_lifelines():
    from bench.survival import bench_survival

    res = bench_survival([120], covariates=4, folds=3, repeats=1, log=lambda _: None)
    rows = res["rows"]
    assert len(rows) == 2 and all(r["coef_max_abs_diff"] < 1e-8 for r in rows)
    run = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 1.0}
    assert "lifelines used directly" in report.survival_section(res, run)


def test_profiling_benchmark_at_toy_size():
    from bench.profiling import bench_profiling

    res = bench_profiling(150, 600, repeats=1, log=lambda _: None)
    assert res["ari_planted"] > 0.9 and len(res["rows"]) == 2
    run = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 1.0}
    assert "150 samples x 600 genes" in report.profiling_section(res, run)


def test_cli_workflow_options():
    args = parse_args(["--only", "dag,workflow", "--workflow-patients", "1000,10000"])
    assert args.only == ["dag", "workflow"] and args.workflow_patients == [1000, 10000]
    assert parse_args(["--quick"]).repeats == 2 and parse_args([]).repeats == 3
    assert {"dag", "workflow"} <= set(BENCHMARKS)
    with pytest.raises(SystemExit):
        parse_args(["--workflow-patients", "0"])


@pytest.fixture(scope="module")
def dag_result():
    from bench.workflow import bench_dag

    return bench_dag([40], genes=500, lines=40, profiles=("default", "slurm"), log=quiet)


def test_dag_dry_run_counts_jobs_and_submissions(dag_result):
    from bench.workflow import dag_section

    rows = dag_result["rows"]
    assert [r["profile"] for r in rows] == ["default", "slurm"]
    for r in rows:
        assert r["patients"] == 40 and r["repeats"] == 1 and r["time_s"] > 0
        assert r["jobs"] == 11 and r["peak_mib"] > 0  # 40 patients: one report shard
    assert rows[1]["submissions"] == 8
    run = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 1.0}
    text = dag_section(dag_result, run)
    assert text.startswith("<!-- bench:section dag -->") and "| 40 | slurm |" in text


def test_workflow_benchmark_records_each_stage(tmp_path):
    """A real run up to the first rule only (the whole workflow is tests/test_workflow.py's job)."""
    from bench import workflow

    res = workflow.bench_workflow(
        [40], genes=500, lines=40, targets=["results/check/summary.json"], log=quiet
    )
    (run,) = res["runs"]
    assert [s["stage"] for s in run["stages"]] == ["check"]
    assert run["stages"][0]["rc"] == 0 and run["stages"][0]["maxrss_mib"] > 10
    assert run["wall_s"] > run["stages"][0]["wall_s"] and run["tree_peak_mib"] > 10
    assert res["asked"]["check"]["mem_mb"] > 0
    meta = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 1.0, "commit": "abc"}
    text = workflow.workflow_section(res, meta)
    assert "| check | " in text and "whole workflow" in text and "40 patients" in text
    doc = tmp_path / "cluster.md"
    doc.write_text(f"# intro\n\n{workflow.CLUSTER_START}\nold\n{workflow.CLUSTER_END}\n\nafter\n")
    assert workflow.update_cluster_doc(doc, res, meta)
    new = doc.read_text()
    assert "old" not in new and "| check | " in new and new.endswith("after\n")
    assert new.startswith("# intro") and new.count(workflow.CLUSTER_START) == 1
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not workflow.update_cluster_doc(plain, res, meta)


def test_machine_section_records_the_run_time():
    info = {
        "date": "d",
        "command": "python -m bench",
        "commit": "abc",
        "cpu": "cpu",
        "cores": 2,
        "physical_cores": 2,
        "affinity": 2,
        "ram_gib": 1.0,
        "os": "Linux",
        "python": "3.11",
        "versions": dict.fromkeys(("rxrank", "numpy", "scipy", "scikit-learn", "pandas"), "1"),
        "blas": [],
        "elapsed": {"sections_s": {"ridge": 60.0, "dag": 30.0}, "total_s": 95.0, "finished": True},
    }
    text = report.machine_section(info)
    assert "this run took **1.6 min** in all" in text and "ridge 1.0, dag 0.5" in text


def test_plot_from_results(tmp_path, corr_result, dag_result):
    from bench.plot import write_plot

    svg, data = tmp_path / "b.svg", tmp_path / "b.json"
    assert write_plot({"machine": {}, "correlation": corr_result}, data, svg)
    assert svg.read_text().lstrip().startswith("<?xml")
    # a later run of another benchmark keeps the correlation data and adds its own
    assert write_plot({"dag": dag_result}, data, svg)
    import json

    assert set(json.loads(data.read_text())) == {"correlation", "dag"}


@pytest.mark.parametrize("mode", ["full", "quick"])
def test_every_benchmark_runs_with_its_sizes(mode, monkeypatch):
    """run.py's SIZES fit the benchmark functions' signatures (without running them)."""
    import inspect

    from bench import profiling as prof_mod
    from bench import reports as rep_mod
    from bench import run
    from bench import scale as scale_mod
    from bench import survival as surv_mod
    from bench import wgcna as wg_mod
    from bench import workflow as wf_mod

    calls = []

    def fake(fn, result):
        def call(*a, **kw):
            inspect.signature(fn).bind(*a, **kw)  # raises TypeError on a wrong keyword
            calls.append(fn.__name__)
            return result

        return call

    patches = [
        (ridge, "bench_ridge", {}),
        (ridge, "bench_ridge_scaling", []),
        (correlation, "bench_correlation", {}),
        (rep_mod, "bench_reports", {}),
        (wg_mod, "bench_wgcna", {}),
        (surv_mod, "bench_survival", {}),
        (prof_mod, "bench_profiling", {}),
        (wf_mod, "bench_dag", {}),
        (wf_mod, "bench_workflow", {}),
        (scale_mod, "bench_scale", {}),
    ]
    for module, name, result in patches:
        monkeypatch.setattr(module, name, fake(getattr(module, name), result))
    args = parse_args(["--quick"] if mode == "quick" else [])
    for name in BENCHMARKS:
        getattr(run, f"run_{name}")(run.SIZES[mode], args)
    assert len(calls) == len(patches)


def test_synthetic_workflow_inputs_pass_the_check(tmp_path, monkeypatch):
    """bench.synth writes every workflow input at a given shape (issue 22's generator): the check
    accepts them as they are, with the shape and the missing fraction asked for."""
    import yaml

    from rxrank.check import run_check

    path = synth.write_workflow_inputs(
        tmp_path, patients=50, genes=200, lines=60, drugs=10, missing=0.18, seed=4
    )
    config = yaml.safe_load(path.read_text())
    monkeypatch.chdir(tmp_path)
    report, _ = run_check(path, config)
    assert report.ok, report.text()
    assert report.counts["patients_with_expression_and_clinical"] == 50
    assert report.counts["genes_shared"] == 200 and report.counts["drugs_in_screen"] == 10
    response = pd.read_csv(tmp_path / "response.tsv", sep="\t")
    assert abs(1 - len(response) / (60 * 10) - 0.18) < 0.05
    assert synth.SHAPES["tcga-prism"] == (11_000, 20_000, 1_000, 1_400)


@pytest.mark.slow
def test_scale_benchmark_records_every_stage_and_renders(tmp_path):
    """bench.scale at the small shape up to the sensitivity stage: every stage run has a wall time
    and a peak RSS, and the section states the shape and the measured stages."""
    from bench.scale import run_shape, scale_section

    r = run_shape(tmp_path, "small", targets=("sensitivity/metrics.tsv",), log=quiet)
    stages = [s["stage"] for s in r["stages"]]
    assert stages[:2] == ["check", "reference"] and "sensitivity" in stages
    assert all(s["rc"] == 0 and s["wall_s"] > 0 and s["maxrss_mib"] > 50 for s in r["stages"])
    assert r["tree_peak_mib"] > 100 and r["wall_s"] > sum(s["wall_s"] for s in r["stages"]) / 2
    res = {"runs": [{**r, "shape": "tcga-prism"}], "snakemake": "9"}
    run = {"date": "d", "command": "c", "mode": "quick", "elapsed_s": 60.0}
    text = scale_section(res, run)
    assert text.startswith("<!-- bench:section scale -->")
    assert "| sensitivity |" in text and "60 patients x 300 genes" in text
    assert "sensitivity fit + predict" in text and "(limit 5 min): **met**" in text
