# rxrank: per-patient treatment rankings. Run `snakemake --cores 8` (demo) or with --configfile.
from snakemake.utils import min_version

min_version("8.10")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/profiling.smk"
include: "workflow/rules/singlecell.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/correlation.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/ranking.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/ranking/rankings.tsv",
        "results/reports/index.html",  # the report rule writes every patient's page with it
    default_target: True
