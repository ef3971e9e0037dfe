rule reference:
    input:
        unpack(reference_inputs),
    output:
        response="results/reference/response.tsv",
        cell_lines="results/reference/cell_lines.tsv",
        drugs="results/reference/drugs.tsv",
    params:
        p=stage_params("reference"),
        optional=reference_options,
    log:
        "logs/reference.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank reference --params {params.p:q} --response {input.response:q} {params.optional} "
        "--out-response {output.response:q} --out-cell-lines {output.cell_lines:q} "
        "--out-drugs {output.drugs:q} 2> {log:q}"
