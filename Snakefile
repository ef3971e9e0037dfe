# rxrank: per-patient treatment rankings. Run `snakemake --cores 8` (demo) or with --configfile.
from snakemake.utils import min_version

min_version("8.10")


# the demo's config only when no --configfile is given: a user's config is complete on its own,
# every setting it leaves out taking rxrank's default (`rxrank defaults`), never a demo file
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/check.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/profiling.smk"
include: "workflow/rules/singlecell.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/modules.smk"
include: "workflow/rules/associations.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/outcome.smk"
include: "workflow/rules/ranking.smk"
include: "workflow/rules/report.smk"


# Every stage's outputs are targets, not only the rankings and reports: Snakemake remakes a missing
# intermediate file only when something downstream must run, so after a run killed inside a stage
# (whose outputs Snakemake had deleted) the old rankings would otherwise look current.
rule all:
    input:
        rules.check.output,
        [] if REFERENCE_BUNDLE else rules.reference.output,
        rules.pseudobulk.output if SINGLE_CELL else [],
        rules.profile.output,
        rules.sensitivity.output,
        rules.modules.output,
        rules.associations.output,
        rules.survival.output,
        rules.outcome.output,
        rules.rank.output,
        rules.report.output,  # the index (after every shard of patient pages)
    default_target: True


onsuccess:
    from rxrank.summary import run_summary

    print(run_summary(OUT, "logs"))
