# Co-expression modules need only the profiled cohort: this runs beside the sensitivity stage.
rule modules:
    input:
        cohort=f"{OUT}/profiling/cohort.h5ad",
    output:
        modules=f"{OUT}/correlation/modules.tsv",
        hub_genes=f"{OUT}/correlation/hub_genes.tsv",
        eigengenes=f"{OUT}/correlation/eigengenes.tsv",
        soft_threshold=f"{OUT}/correlation/soft_threshold.tsv",
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
