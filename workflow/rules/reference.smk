# Builds the reference bundle (rxrank.bundle) from the downloaded files in <outdir>/reference, which
# a later run or another cohort may reuse as reference.bundle; with reference.bundle set, nothing
# is built and the stages read that bundle.
if not REFERENCE_BUNDLE:

    rule reference:
        input:
            unpack(
                inputs_with_optional(
                    {
                        "expression": config["reference"]["expression"],
                        "response": config["reference"]["response"],
                        "check": f"{OUT}/check/summary.json",
                    },
                    cell_lines=("reference", "cell_lines"),
                    drugs=("reference", "drugs"),
                    binary_features=("reference", "binary_features"),
                )
            ),
        output:
            expression=f"{OUT}/reference/expression.h5ad",
            response=f"{OUT}/reference/response.tsv",
            cell_lines=f"{OUT}/reference/cell_lines.tsv",
            drugs=f"{OUT}/reference/drugs.tsv",
            manifest=f"{OUT}/reference/manifest.json",
        params:
            p=stage_params("reference"),
            optional=optional_options("cell_lines", "drugs", "binary_features"),
            out=subpath(output.manifest, parent=True),
        log:
            "logs/reference.log",
        conda:
            "../envs/rxrank.yaml"
        shell:
            "rxrank reference build --params {params.p:q} --expression {input.expression:q} "
            "--response {input.response:q} {params.optional} --out {params.out:q} 2> {log:q}"
