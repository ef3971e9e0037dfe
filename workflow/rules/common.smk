import json

from snakemake.utils import validate

from rxrank.io import workflow_patients

validate(config, schema="../schemas/config.schema.yaml")

PATIENTS = workflow_patients(config)


def stage_params(*sections):
    """The config sections a stage needs, as JSON for `rxrank <stage> --params`."""
    return json.dumps({s: config.get(s, {}) for s in sections})


def reference_cell_lines():
    """The optional cell-line annotation table (tissues), or nothing."""
    return config["reference"].get("cell_lines") or []


def cell_lines_option(wildcards, input):
    return f"--cell-lines '{input.cell_lines}'" if input.cell_lines else ""
