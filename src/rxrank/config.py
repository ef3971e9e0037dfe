"""The configuration: one frozen params dataclass per section, the only home of every default.

The schema (``schemas/config.schema.yaml``) states types and ranges and no defaults;
``config/config.yaml`` states the demo's data and what it sets differently from these defaults;
``rxrank defaults`` prints every setting with its default. ``tests/test_config.py`` checks the
three agree: every schema key is a field here and back, the schema holds no ``default``, and the
shipped config restates no default.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import RxrankInputError

__all__ = [
    "CohortParams",
    "CorrelationParams",
    "LimitsParams",
    "LongitudinalParams",
    "OutcomeParams",
    "ReportParams",
    "Params",
    "PrivacyParams",
    "ProfilingParams",
    "RankingParams",
    "ReferenceParams",
    "SECTIONS",
    "SensitivityParams",
    "SingleCellParams",
    "SurvivalParams",
    "WEIGHTS",
    "defaults",
    "section_params",
    "survival_settings",
    "with_defaults",
]


@dataclass(frozen=True)
class Params:
    """A config section's settings; missing keys take the defaults declared on the subclass."""

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None = None):
        """The section's params from its config mapping (None or {}: every default)."""
        section = dict(section or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known settings: {', '.join(known)}"
            raise RxrankInputError(f"unknown setting(s) {unknown} for {cls.__name__}; {hint}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in fields(cls):
            if f.name not in section:
                continue
            value = section[f.name]
            nested = _params_type(hints[f.name])
            if nested is not None and (value is None or isinstance(value, Mapping)):
                value = (
                    None
                    if value is None and _optional(hints[f.name])
                    else nested.from_config(value)
                )
            kwargs[f.name] = value
        return cls(**kwargs)

    @classmethod
    def coerce(cls, value: Params | Mapping[str, Any] | None):
        """``value`` itself when it is already this class's params, else :meth:`from_config`."""
        return value if isinstance(value, cls) else cls.from_config(value)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists, as the config file writes them."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Params):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    def replace(self, **changes):
        """A copy with ``changes`` (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)


def _params_type(hint) -> type[Params] | None:
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and issubclass(arg, Params):
            return arg
    return None


def _optional(hint) -> bool:
    return type(None) in typing.get_args(hint)


# --------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class SingleCellParams(Params):
    """``cohort.single_cell``: one .h5ad per patient summed into a pseudobulk."""

    samples: str | None = None
    cell_type_column: str = "cell_type"
    layer: str | None = None
    min_cells: int = 50
    gene_join: str = "union"
    cell_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CohortParams(Params):
    """``cohort``: where the patients' expression and clinical data are and how to read them."""

    expression: str | None = None
    expression_type: str = "counts"
    orientation: str = "auto"
    expression_layer: str | None = None
    clinical: str | None = None
    id_column: str = "patient_id"
    time_column: str = "os_months"
    event_column: str = "os_event"
    covariates: tuple[str, ...] = ()
    treatment_column: str | None = None
    reference_arm: str | None = None
    single_cell: SingleCellParams | None = None
    mutations: str | None = None
    calls: str | None = None


@dataclass(frozen=True)
class ReferenceParams(Params):
    """``reference``: the cell lines' expression, the drug screen and optional annotations; or a
    bundle folder built from them (``rxrank reference build``, :mod:`rxrank.bundle`)."""

    bundle: str | None = None
    expression: str | None = None
    expression_type: str = "log"
    orientation: str = "auto"
    expression_layer: str | None = None
    response: str | None = None
    response_layout: str = "auto"
    response_metric: str | None = None
    response_value_column: str | None = None
    cell_line_id: str | None = None
    dataset: str | None = "auto"
    cell_lines: str | None = None
    drugs: str | None = None
    binary_features: str | None = None

    def expression_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`rxrank.io.read_expression` for the reference expression."""
        return {
            "expression_type": self.expression_type,
            "orientation": self.orientation,
            "layer": self.expression_layer,
            "what": "reference expression",
        }

    def screen_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`rxrank.screens.read_screen` for the response file."""
        return {
            "layout": self.response_layout,
            "metric": self.response_metric,
            "value_column": self.response_value_column,
            "cell_line_id": self.cell_line_id,
            "dataset": self.dataset,
        }


# ------------------------------------------------------------------------------------- the stages


@dataclass(frozen=True)
class ProfilingParams(Params):
    n_top_genes: int = 1000
    n_pcs: int = 20
    n_neighbors: int = 10
    resolutions: tuple[float, ...] = (0.2, 0.3, 0.5, 0.8, 1.0)
    drop_outliers: bool = False
    seed: int = 0


@dataclass(frozen=True)
class CorrelationParams(Params):
    n_genes: int = 1000
    power: int | None = None
    powers: tuple[float, ...] = tuple(range(1, 21))
    r2_cut: float = 0.8
    signed: bool = True
    min_module_size: int = 15
    merge_cut_height: float = 0.25
    deep_split: int = 2
    min_kme: float = 0.3
    block_size: int = 2000
    max_block_size: int = 5000
    pam_stage: bool = True
    min_samples: int = 10
    seed: int = 0
    gene_drug_method: str = "pearson"
    gene_drug_top: int | None = 50
    gene_drug_min_lines: int = 10
    hub_genes: int = 10
    neighbours: int = 0


@dataclass(frozen=True)
class SensitivityParams(Params):
    model: str = "ridge"
    harmonisation: str = "standardise"
    min_lines: int = 20
    min_sd: float = 0.1
    min_shared_genes: int = 100
    # chosen on real GDSC2 (docs/sensitivity-defaults.md): every gene, no per-drug screen
    n_top_genes: int | None = None
    screen_genes: int | None = None
    # one response factor shared by all drugs: GDSC2 pooled RMSE 1.173 -> 1.167 (same folds)
    shared_factors: int = 1
    alphas: tuple[float, ...] = field(default_factory=lambda: _ridge_alphas())
    cv: str = "lines"
    cv_folds: int = 5
    reference_tissue: str | None = None
    similar_lines: int = 5
    interval_level: float = 0.9
    seed: int = 0
    fitted_model: str | None = None


@dataclass(frozen=True)
class OutcomeParams(Params):
    column: str | None = "response"
    covariates: tuple[str, ...] | None = None
    features: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    models: tuple[str, ...] = ("logistic_regression", "svm", "random_forest", "gradient_boosting")
    cv_folds: int = 5
    inner_folds: int = 3
    calibration_bins: int = 5
    seed: int | None = None


@dataclass(frozen=True)
class LongitudinalParams(Params):
    table: str | None = None
    covariates: tuple[str, ...] = ()
    id_column: str = "patient_id"
    start_column: str = "start"
    stop_column: str = "stop"
    event_column: str | None = "event"
    penalizer: float = 0.0


@dataclass(frozen=True)
class SurvivalParams(Params):
    features: tuple[str, ...] = ()
    penalizers: tuple[float, ...] = (0.01, 0.1, 0.5, 1.0)
    l1_ratios: tuple[float, ...] = (0.0,)
    cv_folds: int = 5
    uno_censoring: float = 0.5
    times: tuple[float, ...] = (12, 36, 60)
    biomarkers: Mapping[str, str] = field(default_factory=dict)
    adjust_for: tuple[str, ...] | None = None
    treatment_penalizer: float = 0.0
    # observational unless the treatment was randomised: what the treatment notes say of bias
    design: str = "observational"
    # per-patient effects from a biomarker interaction only when its p is below this
    interaction_alpha: float = 0.05
    # delta: analytic (Tsiatis) intervals of S(t) and medians; bootstrap: n_bootstrap refits
    interval_method: str = "delta"
    n_bootstrap: int = 100
    interval_level: float = 0.95
    seed: int = 0
    outcome: OutcomeParams = field(default_factory=OutcomeParams)
    longitudinal: LongitudinalParams = field(default_factory=LongitudinalParams)


def _ridge_alphas() -> tuple[float, ...]:
    from .ridge import DEFAULT_ALPHAS  # the estimator's own grid, as in its signature

    return DEFAULT_ALPHAS


#: the default weight of each ranking component (the components: ``rxrank.ranking.COMPONENTS``)
WEIGHTS = {
    "sensitivity": 1.0,
    "reliability": 0.5,
    "target": 0.25,
    "survival": 0.5,
    "module": 0.1,
    # a tissue-adjusted cell-line effect (q <= genomic_q) of a feature the patient carries: weighed
    # like the expression model's prediction, as a tumour board weighs a known biomarker
    "genomic": 1.0,
}


@dataclass(frozen=True)
class RankingParams(Params):
    weights: Mapping[str, float] = field(default_factory=lambda: dict(WEIGHTS))
    module_q: float = 0.05
    target_support_z: float = 1.0
    genomic_q: float = 0.05
    # rankings.tsv (for reading by hand) keeps every row up to this; above, each patient's top rows
    tsv_max_rows: int = 1_000_000

    @classmethod
    def from_config(cls, section=None):
        """Weights given in the config override the components' defaults one by one."""
        section = dict(section or {})
        if "weights" in section:
            section["weights"] = {**WEIGHTS, **(section["weights"] or {})}
        return super().from_config(section)


@dataclass(frozen=True)
class PrivacyParams(Params):
    pseudonymize: bool = True
    key_env: str = "RXRANK_PSEUDONYM_KEY"
    key_file: str | None = "~/.config/rxrank/pseudonym.key"
    create_key: bool = True
    mapping_file: str | None = None
    report_clinical_columns: tuple[str, ...] = ("age", "stage", "treatment")
    age_column: str | None = "age"
    encrypt_reports: bool = False
    passphrases: str = "random"
    passphrase_file: str | None = "~/.config/rxrank/report-passphrases.tsv"
    master_key_env: str = "RXRANK_REPORT_MASTER_KEY"
    master_key_file: str | None = None
    create_master_key: bool = False
    kdf_iterations: int = 600_000


@dataclass(frozen=True)
class LimitsParams(Params):
    input_memory_gb: float = 4.0


@dataclass(frozen=True)
class ReportParams(Params):
    # patients per report job: a cluster runs the shards as separate jobs; the DAG grows by one
    # job per shard, not per patient
    shard_size: int = 500


#: config section -> its params class
SECTIONS: dict[str, type[Params]] = {
    "cohort": CohortParams,
    "reference": ReferenceParams,
    "profiling": ProfilingParams,
    "correlation": CorrelationParams,
    "sensitivity": SensitivityParams,
    "survival": SurvivalParams,
    "ranking": RankingParams,
    "privacy": PrivacyParams,
    "limits": LimitsParams,
    "report": ReportParams,
}


#: one line on each setting, printed beside its default by ``rxrank defaults``
DOCS = {
    "outdir": "the run's output folder: one per cohort (pages of patients not in it are removed)",
    "cohort.expression": "genes x patients or patients x genes, TSV/CSV(.gz)/h5ad",
    "cohort.expression_type": "counts | tpm | log",
    "cohort.orientation": "auto | genes_by_samples | samples_by_genes",
    "cohort.expression_layer": ".h5ad only: layer to read instead of .X",
    "cohort.time_column": "survival time in months",
    "cohort.event_column": "1 = event, 0 = censored",
    "cohort.covariates": "adjusted for in the Cox models",
    "cohort.treatment_column": "optional: treatment received",
    "cohort.mutations": "optional: MAF of the patients' mutations (Tumor_Sample_Barcode = patient)",
    "cohort.calls": "optional: patient_id, then 0/1 calls (GENE_mut, GENE_amp, GENE_del, A-B_fusion)",
    "sensitivity.similar_lines": "reference lines listed as most like each patient (0: none)",
    "ranking.genomic_q": "BH q a carried feature's tissue-adjusted effect needs to count",
    "report.shard_size": "patients per report job (pages of a shard: reports/pages/NNN/)",
    "ranking.tsv_max_rows": "rows of rankings.tsv; above, each patient's top drugs (all in .parquet)",
    "reference.bundle": "a folder from rxrank reference build, instead of the files below",
    "reference.orientation": "auto | genes_by_samples | samples_by_genes",
    "reference.expression_layer": ".h5ad only: layer to read instead of .X",
    "reference.response": "drug screen: GDSC (CSV/.xlsx/website), PRISM, CTRPv2, CCLE, wide or long",
    "reference.response_layout": "auto | gdsc | gdsc_web | prism | ctrp | ccle | wide | long",
    "reference.response_metric": "lower = more sensitive; null: ln_ic50, auc for PRISM/CTRP",
    "reference.response_value_column": "long/wide tables: override the value column",
    "reference.cell_line_id": "gdsc: name|cosmic|sanger; prism: depmap|ccle; ctrp: name|ctrp",
    "reference.dataset": "auto: GDSC2 of GDSC1+2; a name keeps it; null: all, drugs labelled",
    "reference.cell_lines": "optional: cell_line, tissue",
    "reference.drugs": "optional: drug, targets (;-separated), pathway",
    "reference.binary_features": "optional: cell_line, then 0/1 calls per feature",
    "correlation.n_genes": "most variable genes entering the network",
    "correlation.signed": "signed network (WGCNA's recommendation)",
    "correlation.merge_cut_height": "merge modules whose eigengenes correlate above 0.75",
    "correlation.max_block_size": "blockwise mode above this many genes: largest TOM is this square",
    "correlation.min_samples": "fewer patients: a clear error instead of meaningless modules",
    "correlation.seed": "pre-clustering of genes into blocks (blockwise mode)",
    "correlation.pam_stage": "genes the tree cut leaves out join their closest module (as WGCNA)",
    "correlation.gene_drug_top": "genes kept per drug in gene_drug.tsv",
    "correlation.hub_genes": "top genes per module by kME in hub_genes.tsv",
    "correlation.neighbours": ">0: neighbours.tsv, each network gene's k most correlated genes",
    "sensitivity.model": "ridge | elastic_net | random_forest",
    "sensitivity.harmonisation": "standardise | quantile | combat (fitted inside each CV fold)",
    "sensitivity.min_lines": "drugs measured on fewer cell lines are skipped",
    "sensitivity.min_sd": "low-variance filter (log units), in either dataset",
    "sensitivity.min_shared_genes": "fewer genes shared by cohort and reference: a clear error (GDSC2 figures in docs/sensitivity-defaults.md)",
    "sensitivity.n_top_genes": "null: every gene passing min_sd; else the most variable reference genes (inside each CV fold)",
    "sensitivity.screen_genes": "null: none; else per drug the genes most correlated with response (inside each CV fold)",
    "sensitivity.shared_factors": "ridge: response factors shared by all drugs, learnt first (0: each drug alone)",
    "sensitivity.cv": "lines: leave whole cell lines out | tissue: leave whole tissues out",
    "sensitivity.interval_level": "split-conformal interval coverage",
    "sensitivity.fitted_model": "a saved model folder (an earlier run's results/sensitivity/model) applied instead of training",
    "sensitivity.reference_tissue": "e.g. breast: adds a percentile against lines of that tissue",
    "survival.features": "empty: every module eigengene",
    "survival.uno_censoring": "choose the penalty by Uno's C-index when at least this share is censored",
    "survival.biomarkers": "treatment arm -> feature (eigengene, sensitivity:<drug>) for arms whose",
    "survival.adjust_for": "treatment-effect models adjust for these; null: cohort.covariates and",
    "survival.design": "observational | randomised: how treatment was assigned (said in every treatment note)",
    "survival.interaction_alpha": "per-patient treatment effects from a biomarker only when the interaction's p is below this",
    "survival.treatment_penalizer": "ridge penalty of the treatment-effect models; 0: plain Cox (unbiased HRs)",
    "survival.interval_method": "delta (analytic, as R's survfit.coxph) | bootstrap: intervals of S(t) and medians",
    "survival.n_bootstrap": "with interval_method bootstrap: refits of the inference model",
    "survival.outcome": "binary outcome classifiers; absent column -> none (outcome/summary.json)",
    "survival.outcome.column": "0/1 column of the clinical table; null switches the classifiers off",
    "survival.outcome.covariates": "clinical columns offered; null: cohort.covariates + treatment_column",
    "survival.outcome.features": "empty: the Cox features + predicted sensitivities to the treatments given",
    "survival.outcome.cv_folds": "outer folds (AUROC); hyper-parameters by inner CV inside each",
    "survival.outcome.seed": "null: survival.seed",
    "survival.longitudinal": "optional long table of time-varying covariates -> longitudinal.tsv",
    "survival.longitudinal.table": "e.g. data/labs.tsv: patient_id, start, stop, [event], covariates...",
    "survival.longitudinal.covariates": "columns of that table entering the time-varying Cox model",
    "survival.longitudinal.event_column": "absent in the table: the clinical event goes on each patient's last row",
    "privacy.pseudonymize": "patient IDs replaced by keyed HMAC pseudonyms in all outputs",
    "privacy.key_env": "the key is read from this environment variable, else ...",
    "privacy.key_file": "... from this file (keep it outside the repository)",
    "privacy.create_key": "create a random key file (mode 0600) if none exists",
    "privacy.mapping_file": "e.g. /secure/rxrank/mapping.tsv: pseudonym -> patient ID (0600)",
    "privacy.report_clinical_columns": "the only clinical columns shown in reports",
    "privacy.age_column": "shown as 90+ from 90 on when pseudonymising (HIPAA Safe Harbor)",
    "privacy.encrypt_reports": "true: every report is AES-256-GCM encrypted, opened by passphrase",
    "privacy.passphrases": "random (kept across reruns; rxrank rotate-passphrases) | derived (HKDF of master secret + pseudonym)",
    "privacy.passphrase_file": "written 0600; keep outside results/",
    "privacy.master_key_env": "derived mode: the site master secret, else ...",
    "privacy.master_key_file": "... from this file",
    "privacy.kdf_iterations": "PBKDF2-HMAC-SHA256 iterations (600,000 at least)",
    "limits.input_memory_gb": "an input whose reading needs more memory is refused before parsing",
    "cohort.single_cell": "one .h5ad per patient instead of `expression` (samples: a sheet of patient_id, h5ad)",
}


def defaults_yaml() -> str:
    """Every setting with its default and a line on what it does, as YAML (``rxrank defaults``)."""
    import yaml

    lines, path = [], []
    for line in yaml.safe_dump(defaults(), sort_keys=False, width=100).splitlines():
        stripped = line.lstrip(" ")
        if ":" in stripped and not stripped.startswith("- "):
            path = path[: (len(line) - len(stripped)) // 2] + [stripped.split(":", 1)[0]]
            doc = DOCS.get(".".join(path))
            line = f"{line}  # {doc}" if doc else line
        lines.append(line)
    return "\n".join(lines) + "\n"


def section_params(config: Mapping[str, Any], section: str) -> Params:
    """The params of ``section`` of a whole config (its defaults where the config is silent)."""
    return SECTIONS[section].from_config(config.get(section))


def defaults() -> dict[str, Any]:
    """Every setting with its default, as a config mapping (``rxrank defaults`` prints it)."""
    return {
        "cohort_name": "cohort",
        "outdir": "results",
        **{s: cls().to_dict() for s, cls in SECTIONS.items()},
    }


def with_defaults(config: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict:
    """``config`` deep-merged over :func:`defaults` (or ``base``): every setting present, the
    config's values winning (mappings merged key by key, any other value replaced whole)."""
    out = {k: _plain(v) for k, v in (defaults() if base is None else base).items()}
    for key, value in config.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = with_defaults(value, out[key])
        else:
            out[key] = _plain(value)
    return out


def _plain(value):
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, Mapping) else value


def survival_settings(
    params: SurvivalParams | Mapping[str, Any] | None,
    cohort: CohortParams | Mapping[str, Any] | None = None,
    *,
    extras: tuple[str, ...] = (),
) -> tuple[SurvivalParams, CohortParams, dict[str, Any]]:
    """The survival and cohort settings of the survival and outcome stages.

    ``params`` is the ``survival`` section; as a mapping it may also carry cohort settings
    (``time_column``, ``covariates``, ``treatment_column``, ...: they win over ``cohort``) and the
    caller's own ``extras`` (returned as they are). Any other key is refused as unknown.
    """
    if isinstance(params, SurvivalParams):
        survival, given, extra = params, {}, {}
    else:
        section = dict(params or {})
        cohort_keys = {f.name for f in fields(CohortParams)}
        given = {k: section.pop(k) for k in list(section) if k in cohort_keys}
        extra = {k: section.pop(k) for k in list(section) if k in extras}
        survival = SurvivalParams.from_config(section)
    if given or not isinstance(cohort, CohortParams):
        base = cohort.to_dict() if isinstance(cohort, CohortParams) else dict(cohort or {})
        cohort = CohortParams.from_config({**base, **given})
    return survival, cohort, extra
