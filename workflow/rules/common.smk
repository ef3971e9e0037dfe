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
