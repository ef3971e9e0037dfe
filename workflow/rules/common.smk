import json
import shlex

from snakemake.utils import validate

from rxrank.check import INPUT_KEYS, workflow_patients

validate(config, schema="../schemas/config.schema.yaml")

PATIENTS = workflow_patients(config)


def stage_params(*sections):
    """The config sections a stage needs, as JSON for `rxrank <stage> --params`."""
    return json.dumps({s: config.get(s, {}) for s in sections})


def check_inputs(wildcards):
    """Every input file the config names; the check rule reads them all before any stage runs."""
    files = {f"{s}_{k}": config[s][k] for s, k in INPUT_KEYS if config.get(s, {}).get(k)}
    return files


def reference_inputs(wildcards):
    """The drug screen plus the optional cell-line and drug annotation tables."""
    ref = config["reference"]
    inputs = {"response": ref["response"], "check": "results/check/summary.json"}
    for key in ("cell_lines", "drugs"):
        if ref.get(key):
            inputs[key] = ref[key]
    return inputs


def reference_options(wildcards, input):
    """Command-line options for the annotation tables that the config names."""
    present = [key for key in ("cell_lines", "drugs") if key in input.keys()]
    return " ".join(f"--{key.replace('_', '-')} {shlex.quote(input[key])}" for key in present)
