# Single-cell input (cohort.single_cell): each patient's .h5ad summed into a pseudobulk profile,
# which the profile rule then reads as its counts; composition.tsv gives cells per cell type.


rule pseudobulk:
    input:
        unpack(single_cell_files),
        check=f"{OUT}/check/summary.json",
    output:
        pseudobulk=PSEUDOBULK,
        composition=f"{OUT}/profiling/composition.tsv",
    params:
        p=stage_params("cohort", "privacy"),
    log:
        "logs/pseudobulk.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank pseudobulk --params {params.p:q} --samples {input.samples:q} "
        "--pseudobulk {output.pseudobulk:q} --composition {output.composition:q} 2> {log:q}"
