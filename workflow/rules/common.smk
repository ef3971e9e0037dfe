import json
import shlex

from snakemake.utils import validate

from rxrank.bundle import FILES, bundle_params
from rxrank.check import INPUT_KEYS, guard_config, single_cell_config, workflow_patients
from rxrank.config import ReferenceParams, with_defaults
from rxrank.io import set_input_memory_gb

guard_config(config, "given to snakemake")  # before anything walks it: YAML alias bombs
validate(config, schema="../schemas/config.schema.yaml")  # what the user wrote: required keys too
# then every setting present (rxrank.config's defaults where the config is silent; `rxrank
# defaults` prints them), so rules and stages may read any key
config.update(with_defaults(config))
set_input_memory_gb(config["limits"]["input_memory_gb"])  # the jobs inherit it
# every output of the run goes under `outdir` (default results): one folder per cohort
OUT = config["outdir"].rstrip("/")

# reference.bundle: a prebuilt bundle (rxrank reference build) whose files, checked against its
# manifest, replace the downloads; else the reference rule builds one in <outdir>/reference
REFERENCE_BUNDLE = config["reference"]["bundle"]
if REFERENCE_BUNDLE:
    config["reference"] = bundle_params(
        REFERENCE_BUNDLE, ReferenceParams.from_config(config["reference"])
    ).to_dict()
REFERENCE = REFERENCE_BUNDLE or f"{OUT}/reference"


def reference_file(key):
    """The reference bundle's file for ``key`` (expression, response, cell_lines, drugs)."""
    return f"{REFERENCE}/{FILES[key]}"


PATIENTS = workflow_patients(config)
# the report's scatter: one job per shard of report.shard_size patients (pages in reports/pages/NNN)
REPORT_SHARDS = [
    f"{i + 1:03d}" for i in range(max(1, -(-len(PATIENTS) // config["report"]["shard_size"])))
]
SINGLE_CELL = single_cell_config(config)
PSEUDOBULK = f"{OUT}/profiling/pseudobulk.tsv.gz"


def stage_params(*sections):
    """The config sections a stage needs, as JSON for `rxrank <stage> --params`."""
    return json.dumps({s: config.get(s, {}) for s in sections})


def check_params():
    """What the check reads, and only that: a changed ranking weight or report setting then reruns
    rank and report, not the check and every stage after it."""
    sens, surv = config["sensitivity"], config["survival"]
    return json.dumps(
        {
            **{s: config[s] for s in ("outdir", "cohort", "reference", "privacy", "limits")},
            "sensitivity": {k: sens[k] for k in ("min_shared_genes", "min_lines", "fitted_model")},
            "survival": {"outcome": {"column": surv["outcome"]["column"]}},
        }
    )


def check_inputs(wildcards):
    """Every input file the config names; the check rule reads them all before any stage runs."""
    files = {f"{s}_{k}": config[s][k] for s, k in INPUT_KEYS if config.get(s, {}).get(k)}
    if SINGLE_CELL:  # the samples sheet and every .h5ad it lists replace cohort.expression
        files.pop("cohort_expression", None)
        files.update(single_cell_files())
    return files


def single_cell_files(wildcards=None):
    """The samples sheet and the .h5ad file of every patient it lists (single-cell input only)."""
    from rxrank.singlecell import read_samples

    sheet = SINGLE_CELL["samples"]
    rows = read_samples(sheet, id_column=config["cohort"]["id_column"])
    return {"samples": sheet, **{f"h5ad_{i}": str(s.path) for i, s in enumerate(rows)}}


def cohort_expression(wildcards):
    """The profile stage's expression: the pseudobulk with single-cell input, else the file."""
    return PSEUDOBULK if SINGLE_CELL else config["cohort"]["expression"]


def inputs_with_optional(required, **optional):
    """An input function: the ``required`` files plus each optional input whose config entry (a
    path of keys, e.g. ``("survival", "longitudinal", "table")``) names a file."""

    def inputs(wildcards):
        files = dict(required)
        for name, keys in optional.items():
            value = config
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value:
                files[name] = value
        return files

    return inputs


def optional_options(*keys):
    """A params function: ``--key path`` for each of the optional inputs the config names."""

    def options(wildcards, input):
        present = [key for key in keys if key in input.keys()]
        return " ".join(f"--{key.replace('_', '-')} {shlex.quote(input[key])}" for key in present)

    return options
