"""``rxrank check``: validate the config and every input before any stage runs.

Every problem found is reported in one read: the config key or the file, the row or column, and the
fix. A run that passes prints what it will work on (patients, genes, drugs, events) and the warnings
worth reading before trusting the results.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from . import io
from .config import section_params
from .identifiers import clean_ids
from .privacy import pseudonym_map, refuse_inside

__all__ = [
    "CheckReport",
    "check_config",
    "check_inputs",
    "load_config",
    "run_check",
    "schema",
    "single_cell_config",
    "workflow_patients",
]

log = logging.getLogger(__name__)

MOUSE_ENSEMBL = re.compile(r"^ENSMUSG\d+")
TITLE_CASE_SYMBOL = re.compile(r"^[A-Z][a-z0-9]+[a-z][a-z0-9]*$")  # Trp53, Egfr: mouse/rat style
RESULTS = "results"  # the workflow's output folder, relative to where snakemake runs
INPUT_KEYS = [
    ("cohort", "expression"),
    ("cohort", "clinical"),
    ("reference", "expression"),
    ("reference", "response"),
    ("reference", "cell_lines"),
    ("reference", "drugs"),
    ("reference", "binary_features"),
    ("cohort", "mutations"),
    ("cohort", "calls"),
]


FLIP = {"genes_by_samples": "samples_by_genes", "samples_by_genes": "genes_by_samples"}
#: left-out patients listed on the console, at most
CONSOLE_PATIENTS = 50


def _swapped(axis_ids, other_ids, path, key: str, what: str, correct: str, set_to: str) -> None:
    """One clear error when a file was read the wrong way round: its gene axis holds the IDs the
    other table uses for samples (otherwise every later check fails in its own words)."""
    other = {str(i).upper() for i in other_ids}
    hits = [str(i) for i in axis_ids if str(i).upper() in other]
    if hits:
        raise io.RxrankInputError(
            f"{path} was read with genes along the axis that holds its {what} IDs "
            f"({len(hits)} of them match, e.g. {hits[:3]}): the orientation is wrong. Set "
            f"{key}: {correct}"
            + (
                " (auto guessed wrong for this file)."
                if set_to == "auto"
                else f" (it is {set_to}; auto tells genes from samples by their IDs)."
            )
        )


@dataclass
class CheckReport:
    """What ``check`` found: counts for the summary, warnings, and the errors that stop a run."""

    config_path: str
    counts: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: lines naming patients by the user's own IDs: printed on the console, never written to a file
    console_only: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self, *, console: bool = False) -> str:
        """The report; ``console`` adds the lines naming patients by their own IDs."""
        lines = [f"rxrank check of {self.config_path}: {'OK' if self.ok else 'FAILED'}"]
        lines += [f"  {k.replace('_', ' ')}: {v}" for k, v in self.counts.items()]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [f"ERROR: {e}" for e in self.errors]
        if console and self.console_only:
            lines.append(
                "Patients left out, by your own IDs (shown on this console only; results/ and the "
                "reports never name them):"
            )
            lines += [f"  {line}" for line in self.console_only[:CONSOLE_PATIENTS]]
            if len(self.console_only) > CONSOLE_PATIENTS:
                lines.append(f"  ... and {len(self.console_only) - CONSOLE_PATIENTS} more")
        return "\n".join(lines)


def schema() -> dict:
    """The config schema shipped with the package (also used by the workflow's validate())."""
    text = resources.files("rxrank").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 100_000  # the shipped config holds about 200


def config_size(config: object, *, limit: int = MAX_CONFIG_VALUES) -> int:
    """Values in ``config`` with every YAML alias expanded, counted without expanding anything.

    A 1 KB "billion laughs" YAML nests aliases into 10^9 values; counting each distinct node once
    (memoised on identity) finds that in microseconds, before a validator or JSON dump walks it.
    """
    sizes: dict[int, int] = {}

    def size(node: object) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = limit + 1  # a cycle counts as too large
        if isinstance(node, dict):
            total = 1 + sum(size(k) + size(v) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            total = 1 + sum(size(v) for v in node)
        else:
            total = 1
        sizes[key] = min(total, limit + 1)
        return sizes[key]

    return size(config)


def guard_config(config: object, where: str) -> None:
    """Refuse a config that expands to more than :data:`MAX_CONFIG_VALUES` values (alias bombs)."""
    n = config_size(config)
    if n > MAX_CONFIG_VALUES:
        raise io.RxrankInputError(
            f"config {where} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases "
            "nested into each other?). A configuration holds a few hundred settings: remove the "
            "anchors (&name) and aliases (*name) that repeat large blocks."
        )


def load_config(path: str | Path) -> dict:
    """Read a YAML config with limits: at most 1 MB, at most 100,000 values with aliases expanded."""
    path = Path(path)
    if not path.exists():
        raise io.RxrankInputError(f"config file not found: {path}.")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise io.RxrankInputError(
            f"config file {path} is {path.stat().st_size:,} bytes; a config is a few kilobytes "
            "(at most 1 MB). Check that it is the config and not a data file."
        )
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise io.RxrankInputError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise io.RxrankInputError(f"config file {path} must be a mapping of sections to settings.")
    guard_config(config, str(path))
    return config


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _schema_message(error: jsonschema.ValidationError, path: str) -> str:
    key = _key(error)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        parts = []
        for name in unknown:
            full = f"{key}.{name}" if key != "(top level)" else name
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            parts.append(f"config {path}: unknown key {full!r}; {hint}")
        return "; ".join(parts)
    if error.validator == "required":
        return f"config {path}: section {key!r} lacks a required key: {error.message}."
    if error.validator == "enum":
        options = ", ".join(map(str, error.validator_value))
        return f"config {path}: {key} is {error.instance!r}; it must be one of: {options}."
    return f"config {path}: {key}: {error.message}. Fix the value in the config."


def check_config(config: dict, *, path: str = "config") -> list[str]:
    """Schema errors and missing input files, each naming the key, the file and the fix."""
    try:
        guard_config(config, path)
    except io.RxrankInputError as err:
        return [str(err)]
    validator = jsonschema.Draft202012Validator(schema())
    errors = [_schema_message(e, path) for e in validator.iter_errors(config)]
    cohort = config.get("cohort")
    single_cell = single_cell_config(config)
    if isinstance(cohort, dict) and not cohort.get("expression") and not single_cell:
        errors.append(
            f"config {path}: cohort needs `expression` (a bulk expression file) or "
            "`single_cell: {samples: ...}` (one .h5ad per patient). Set one of them."
        )
    samples = (single_cell or {}).get("samples")
    if isinstance(samples, str) and not Path(samples).expanduser().exists():
        errors.append(
            f"config {path}: cohort.single_cell.samples points to {samples!r}, which does not "
            "exist. Fix the path (relative paths start from the directory snakemake runs in)."
        )
    privacy = config.get("privacy")
    for key in ("key_file", "mapping_file", "master_key_file", "passphrase_file"):
        value = privacy.get(key) if isinstance(privacy, dict) else None
        if isinstance(value, str):
            try:
                refuse_inside(
                    value, config.get("outdir") or RESULTS, f"config {path}: privacy.{key}"
                )
            except io.RxrankInputError as err:
                errors.append(str(err))
    for section, key in INPUT_KEYS:
        if single_cell and (section, key) == ("cohort", "expression"):
            continue  # ignored: the pseudobulk replaces it
        block = config.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        if isinstance(value, str) and not Path(value).expanduser().exists():
            errors.append(
                f"config {path}: {section}.{key} points to {value!r}, which does not exist. "
                "Fix the path (relative paths start from the directory snakemake runs in)."
            )
    return errors


def _species_problem(genes: pd.Index, what: str) -> str | None:
    ids = pd.Series(genes.astype(str))
    if ids.str.match(MOUSE_ENSEMBL).mean() > 0.5:
        return (
            f"{what} gene IDs look like mouse Ensembl IDs (ENSMUSG...). rxrank compares with human "
            "cell lines: map the genes to human orthologues first."
        )
    title = ids.str.match(TITLE_CASE_SYMBOL).mean()
    if title > 0.5:
        return (
            f"{what} gene IDs look like mouse or rat symbols (e.g. {ids[0]!r}: capital + lower "
            "case). Human HGNC symbols are upper case: map to human orthologues first."
        )
    return None


#: a median follow-up above this many months (20 years) means the times are not in months
MAX_MEDIAN_MONTHS = 240


def _time_unit_problem(times: pd.Series, column: str) -> str | None:
    """Survival times must be months; days (a median of hundreds or thousands) are refused with
    the conversion, since the 12/36/60-month estimates would otherwise be silently wrong."""
    times = pd.to_numeric(times, errors="coerce").dropna()
    if times.empty or not times.median() > MAX_MEDIAN_MONTHS:
        return None
    return (
        f"survival times in column {column!r} have a median of {times.median():,.0f} and a "
        f"maximum of {times.max():,.0f}: as months that is {times.median() / 12:,.0f} years of "
        "median follow-up. rxrank reads times in months; if these are days, divide by 30.44 "
        "(weeks: by 4.35) and rerun."
    )


def _left_out_for_missing_covariates(
    clinical: pd.DataFrame, cohort, row_of: dict, ids: dict, report: CheckReport
) -> None:
    """Patients the survival stage leaves out for an empty covariate: counted (with pseudonyms)
    in the warnings, listed by the user's own IDs and clinical-file lines on the console only."""
    columns = [c for c in cohort.covariates if c in clinical]
    if not columns:
        return
    empty = (
        clinical[columns]
        .apply(lambda col: col.isna() | (col.astype("string").str.strip() == "").fillna(False))
        .astype(bool)
    )
    hit = empty.any(axis=1)
    if not hit.any():
        return
    patients = sorted(clinical.index[hit.to_numpy()], key=row_of.get)
    report.warnings.append(
        f"{len(patients)} patient(s) have an empty survival covariate in {cohort.clinical} and are "
        f"left out of the survival models: {sorted(ids[p] for p in patients)[:10]}"
    )
    for p in patients:
        which = [c for c in columns if empty.at[p, c]]
        report.console_only.append(
            f"{p}: {cohort.clinical} line {row_of[p]}, empty {', '.join(map(repr, which))}"
        )


def _check_genomics(cohort, ref, patients: pd.Index, report: CheckReport) -> None:
    """Read the patients' mutations and calls as the profile stage will; count the patients with
    calls and the reference features they reach."""
    if not (cohort.mutations or cohort.calls):
        return
    from .genomics import patient_features, read_maf, read_patient_calls

    events = {}
    if cohort.mutations:
        events["mutations"] = read_maf(cohort.mutations)
    if cohort.calls:
        events["calls"] = read_patient_calls(cohort.calls)
    names = (
        list(io.read_binary_features(ref.binary_features).columns) if ref.binary_features else []
    )
    matrix, table = patient_features(names, list(patients), **events)
    with_calls = int(matrix.notna().any(axis=1).sum()) if names else 0
    report.counts["patients_with_genomic_calls"] = with_calls
    report.counts["reference_features_matched"] = int((table["patients_with"] > 0).sum())
    if not names:
        report.warnings.append(
            "patient mutations/calls are given but reference.binary_features is not: they cannot "
            "reach the ranking (the genomic evidence compares lines with and without a feature)."
        )
    elif with_calls and not (table["patients_with"] > 0).any():
        report.warnings.append(
            f"no patient call matches a feature of {ref.binary_features} (e.g. "
            f"{names[:3]}); name calls as the reference does (GENE_mut, GENE_amp, ...)."
        )


def check_inputs(config: dict, report: CheckReport) -> dict[str, str]:
    """Read every input as the stages will and cross-check them; fills ``report``.

    Returns the patient-ID -> output-ID map (pseudonyms when pseudonymisation is on).
    """
    cohort, ref = section_params(config, "cohort"), section_params(config, "reference")
    if single_cell_config(config):
        samples, genes, input_ids, source = _check_single_cell(config, report)
    else:
        expr = io.read_expression(
            cohort.expression,
            expression_type=cohort.expression_type,
            orientation=cohort.orientation,
            layer=cohort.expression_layer,
        )
        report.warnings.extend(expr.uns["rxrank_io"]["warnings"])
        samples, genes, source = expr.obs_names, expr.var_names, cohort.expression
        input_ids = pd.Index(expr.uns["rxrank_io"]["gene_ids"]["input_id"])
    clinical = io.read_clinical(
        cohort.clinical,
        id_column=cohort.id_column,
        time_column=cohort.time_column,
        event_column=cohort.event_column,
        binary_columns=[section_params(config, "survival").outcome.column],
    )
    privacy = section_params(config, "privacy")
    ids = pseudonym_map(sorted(set(samples) | set(clinical.index)), privacy)
    both = samples.intersection(clinical.index)
    if len(both) == 0 and not single_cell_config(config):
        used = expr.uns["rxrank_io"]["orientation"]
        _swapped(
            input_ids, clinical.index, source, "cohort.orientation", "patient", FLIP[used],
            cohort.orientation,
        )  # fmt: skip
    only_expr = sorted(ids[p] for p in samples.difference(clinical.index))
    only_clin = sorted(ids[p] for p in clinical.index.difference(samples))
    report.counts["patients_with_expression_and_clinical"] = len(both)
    row_of = {p: i + 2 for i, p in enumerate(clinical.index)}  # line in the clinical file
    for p in sorted(samples.difference(clinical.index)):
        report.console_only.append(f"{p}: in {source}, no row in {cohort.clinical}")
    for p in sorted(clinical.index.difference(samples), key=row_of.get):
        report.console_only.append(
            f"{p}: {cohort.clinical} line {row_of[p]}, no expression in {source}"
        )
    if only_expr:
        report.warnings.append(
            f"{len(only_expr)} patient(s) in {source} have no row in "
            f"{cohort.clinical} and are left out: {only_expr[:10]}"
        )
    if only_clin:
        report.warnings.append(
            f"{len(only_clin)} patient(s) in {cohort.clinical} have no expression in "
            f"{source} and are left out: {only_clin[:10]}"
        )
    if len(both) == 0:
        report.errors.append(
            f"no patient ID is in both {source} and {cohort.clinical} "
            f"(column {cohort.id_column!r}); make the IDs match exactly."
        )
    problem = _species_problem(input_ids, f"cohort expression {source}:")
    if problem:
        report.errors.append(problem)

    clinical = clinical.loc[clinical.index.intersection(both)]
    _left_out_for_missing_covariates(clinical, cohort, row_of, ids, report)
    report.counts["survival_events"] = int(clinical[cohort.event_column].sum())
    if report.counts["survival_events"] < 10:
        report.warnings.append(
            f"only {report.counts['survival_events']} survival events: Cox estimates will be "
            "very uncertain."
        )
    problem = _time_unit_problem(clinical[cohort.time_column], cohort.time_column)
    if problem:
        report.errors.append(f"clinical file {cohort.clinical}: {problem}")
    for column in cohort.covariates:
        if column not in clinical:
            report.errors.append(
                f"clinical file {cohort.clinical} has no column {column!r} listed in "
                f"cohort.covariates; its columns are {list(clinical.columns)}."
            )
        elif clinical[column].nunique(dropna=True) < 2:
            report.errors.append(
                f"clinical file {cohort.clinical}: covariate {column!r} has a single value "
                f"({clinical[column].dropna().unique()[:1].tolist()}); remove it from "
                "cohort.covariates, it cannot be estimated."
            )
    treatment = cohort.treatment_column
    if treatment:
        if treatment not in clinical:
            report.errors.append(
                f"clinical file {cohort.clinical} has no treatment column {treatment!r} "
                "(cohort.treatment_column); set it to null if treatments are not recorded."
            )
        elif cohort.reference_arm not in set(clinical[treatment].astype(str)):
            report.errors.append(
                f"cohort.reference_arm {cohort.reference_arm!r} is not a value of column "
                f"{treatment!r} in {cohort.clinical}; values are "
                f"{sorted(clinical[treatment].astype(str).unique())[:8]}."
            )

    _check_genomics(cohort, ref, both, report)

    from .screens import read_cell_lines, read_screen

    lines = io.read_expression(ref.expression, **ref.expression_options())
    report.warnings.extend(lines.uns["rxrank_io"]["warnings"])
    as_given = pd.Index(lines.uns["rxrank_io"]["gene_ids"]["input_id"])  # before case/ID mapping
    screen = read_screen(ref.response, **ref.screen_options())
    if not screen.response["cell_line"].isin(lines.obs_names).any():
        used = lines.uns["rxrank_io"]["orientation"]
        _swapped(
            as_given, screen.response["cell_line"].unique(), ref.expression,
            "reference.orientation", "cell line", FLIP[used], ref.orientation,
        )  # fmt: skip
    problem = _species_problem(as_given, f"reference expression {ref.expression}:")
    if problem:
        report.errors.append(problem)
    shared = genes.intersection(lines.var_names)
    report.counts["genes_cohort"] = len(genes)
    report.counts["genes_reference"] = lines.n_vars
    report.counts["genes_shared"] = len(shared)
    if len(shared) == 0:
        report.errors.append(
            f"{source} and {ref.expression} share no gene IDs (e.g. "
            f"{list(genes[:2])} vs {list(lines.var_names[:2])}); use the same identifier "
            "type (HGNC symbols or Ensembl IDs) in both."
        )
    elif len(shared) < (minimum := section_params(config, "sensitivity").min_shared_genes):
        report.errors.append(
            f"{source} and {ref.expression} share only {len(shared)} genes; the sensitivity stage "
            f"needs at least {minimum} (sensitivity.min_shared_genes). Use the same identifier "
            "type and gene set in both, or a reference measured on the cohort's genes."
        )
    elif len(shared) < 0.5 * min(len(genes), lines.n_vars):
        report.warnings.append(
            f"only {len(shared)} genes are shared by cohort and reference; check identifier types."
        )
    response = screen.response[screen.response["cell_line"].isin(lines.obs_names)]
    if response.empty:
        report.errors.append(
            f"no cell line of {ref.response} is in {ref.expression} (e.g. "
            f"{screen.response['cell_line'].iloc[0]!r} vs {lines.obs_names[0]!r}); make the IDs "
            "match (reference.cell_line_id chooses the ID column of GDSC/PRISM files)."
        )
    per_drug = response.groupby("drug")["cell_line"].nunique()
    min_lines = section_params(config, "sensitivity").min_lines
    report.counts["drugs_in_screen"] = int(screen.response["drug"].nunique())
    report.counts["drugs_with_enough_cell_lines"] = int((per_drug >= min_lines).sum())
    few = sorted(per_drug.index[per_drug < min_lines])
    if few:
        report.warnings.append(
            f"{len(few)} drug(s) have fewer than sensitivity.min_lines={min_lines} cell lines "
            f"with expression and are skipped: {few[:10]}"
        )
    if len(response) and not (per_drug >= min_lines).any():
        report.errors.append(
            f"no drug in {ref.response} has {min_lines} cell lines with expression; lower "
            "sensitivity.min_lines or check the cell-line IDs."
        )
    if ref.drugs:
        io.read_drugs(ref.drugs)
    if ref.cell_lines:
        read_cell_lines(ref.cell_lines, cell_line_id=ref.cell_line_id)
    if ref.binary_features:
        io.read_binary_features(ref.binary_features)
    report.counts["cell_lines_with_expression_and_response"] = int(response["cell_line"].nunique())
    return ids


def single_cell_config(config: dict) -> dict | None:
    """``cohort.single_cell`` when it names a samples sheet (the single-cell input), else None."""
    cohort = config.get("cohort")
    block = cohort.get("single_cell") if isinstance(cohort, dict) else None
    return block if isinstance(block, dict) and block.get("samples") else None


def _check_single_cell(
    config: dict, report: CheckReport
) -> tuple[pd.Index, pd.Index, pd.Index, str]:
    """Scan the samples sheet and its files (not the matrices beyond their first cells).

    Returns the patients, the normalised gene IDs, the genes as given, and the sheet's path.
    """
    from .gene_ids import load_gene_map, normalise_gene_ids
    from .singlecell import config_options, read_samples, scan_samples

    cohort = section_params(config, "cohort")
    sc = single_cell_config(config)
    id_column = cohort.id_column
    patients = [s.patient_id for s in read_samples(sc["samples"], id_column=id_column)]
    ids = pseudonym_map(patients, section_params(config, "privacy"))  # warnings name pseudonyms
    scan = scan_samples(
        sc["samples"], id_column=id_column, label=ids.__getitem__, **config_options(sc)
    )
    report.warnings.extend(scan.warnings)
    if cohort.expression:
        report.warnings.append(
            f"cohort.expression ({cohort.expression}) is ignored: cohort.single_cell is set, "
            "so the profile is the pseudobulk of the single-cell files."
        )
    if cohort.expression_type != "counts":  # what the pseudobulk holds, not the default
        report.warnings.append(
            f"cohort.expression_type {cohort.expression_type!r} is ignored: the pseudobulk of "
            "the single-cell files holds raw counts."
        )
    report.counts["single_cell_files"] = len(scan.files)
    report.counts["single_cell_cells"] = scan.n_cells
    report.counts["single_cell_cell_types"] = len(
        set().union(*(f.cell_types.index for f in scan.files))
    )
    new_ids, _ = normalise_gene_ids(scan.genes, load_gene_map(), merge="sum")
    genes = pd.Index(dict.fromkeys(g for g in new_ids if g is not None))
    return pd.Index(scan.patients), genes, pd.Index(scan.genes), str(sc["samples"])


def run_check(config_path: str | Path, config: dict | None = None) -> tuple[CheckReport, dict]:
    """Validate the config then the inputs; input errors stop at the first unreadable file."""
    config = load_config(config_path) if config is None else config
    report = CheckReport(str(config_path))
    report.errors += check_config(config, path=str(config_path))
    ids: dict = {}
    if report.ok:
        try:
            ids = check_inputs(config, report)
        except io.RxrankInputError as err:
            report.errors.append(str(err))
    fitted = section_params(config, "sensitivity").fitted_model if report.ok else None
    if fitted:
        from .sensitivity import load_model

        try:  # a damaged or foreign model stops the run before any stage
            model = load_model(fitted)
            report.counts["fitted_model_drugs"] = len(model.drugs)
        except io.RxrankInputError as err:
            report.errors.append(f"sensitivity.fitted_model: {err}")
    privacy = section_params(config, "privacy") if report.ok else None
    if privacy is not None and privacy.encrypt_reports:
        from .report.encrypt import sealing_from_config

        try:  # fail now rather than after every stage has run
            sealing_from_config(privacy, results=config.get("outdir") or RESULTS)
        except io.RxrankInputError as err:
            report.errors.append(str(err))
    if report.ok:
        n = report.counts.get("patients_with_expression_and_clinical", 0)
        log.info("check passed: %d patients", n)
    return report, ids


def workflow_patients(config: dict) -> list[str]:
    """Output IDs (pseudonyms when on) of patients with expression and clinical data.

    Read from the clinical table and the expression file's IDs (or the single-cell samples sheet)
    only, so a DAG for 10,000 patients builds without loading any matrix.
    """
    cohort = section_params(config, "cohort")
    clinical = io.read_table(cohort.clinical, what="clinical")
    id_column = cohort.id_column
    if id_column not in clinical:
        raise io.RxrankInputError(
            f"clinical file {cohort.clinical} has no column {id_column!r} (cohort.id_column)."
        )
    ids = set(
        clean_ids(
            list(clinical[id_column].astype(str)),
            source=f"clinical file {cohort.clinical}, column {id_column!r}",
        )
    )
    single_cell = single_cell_config(config)
    if single_cell:
        from .singlecell import read_samples

        sheet = read_samples(single_cell["samples"], id_column=id_column)
        samples = [s.patient_id for s in sheet]
    else:
        samples = io.expression_sample_ids(cohort.expression, orientation=cohort.orientation)
    both = sorted(ids.intersection(samples))
    mapping = pseudonym_map(both, section_params(config, "privacy"))
    return sorted(mapping[p] for p in both)
