# Co-expression modules need only the profiled cohort: this runs beside the sensitivity stage.
rule modules:
    input:
        cohort="results/profiling/cohort.h5ad",
    output:
        modules="results/correlation/modules.tsv",
        hub_genes="results/correlation/hub_genes.tsv",
        eigengenes="results/correlation/eigengenes.tsv",
        soft_threshold="results/correlation/soft_threshold.tsv",
    params:
        p=stage_params("correlation"),
        outdir=subpath(output.modules, parent=True),
    log:
        "logs/modules.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank modules --params {params.p:q} --cohort {input.cohort:q} "
        "--outdir {params.outdir:q} 2> {log:q}"
