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
        # the ranking and report index made from this stage's previous outputs: removed before
        # it runs, so a run that dies here cannot leave them looking current (README: After a crash)
        derived=lambda wildcards: [rules.rank.output.rankings, rules.report.output.index],
        p=stage_params("reference"),
        optional=optional_options("cell_lines", "drugs"),
    log:
        "logs/reference.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rm -f {params.derived:q} && rxrank reference --params {params.p:q} --response {input.response:q} {params.optional} "
        "--out-response {output.response:q} --out-cell-lines {output.cell_lines:q} "
        "--out-drugs {output.drugs:q} 2> {log:q}"
