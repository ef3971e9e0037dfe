rule reference:
    input:
        unpack(
            inputs_with_optional(
                {"response": config["reference"]["response"], "check": "results/check/summary.json"},
                cell_lines=("reference", "cell_lines"),
                drugs=("reference", "drugs"),
            )
        ),
    output:
        response="results/reference/response.tsv",
        cell_lines="results/reference/cell_lines.tsv",
        drugs="results/reference/drugs.tsv",
    params:
        p=stage_params("reference"),
        optional=optional_options("cell_lines", "drugs"),
    log:
        "logs/reference.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank reference --params {params.p:q} --response {input.response:q} {params.optional} "
        "--out-response {output.response:q} --out-cell-lines {output.cell_lines:q} "
        "--out-drugs {output.drugs:q} 2> {log:q}"
