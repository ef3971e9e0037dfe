rule profile:
    input:
        unpack(
            inputs_with_optional(
                {
                    "clinical": config["cohort"]["clinical"],
                    "drugs": reference_file("drugs"),
                    "check": f"{OUT}/check/summary.json",
                },
                mutations=("cohort", "mutations"),
                calls=("cohort", "calls"),
                binary_features=("reference", "binary_features"),
            )
        ),
        expression=cohort_expression,
    output:
        cohort=f"{OUT}/profiling/cohort.h5ad",
        markers=report(f"{OUT}/profiling/markers.tsv", caption="../report/markers.rst", category="Profiling"),
        target_z=f"{OUT}/profiling/target_z.tsv",
        gene_ids=f"{OUT}/profiling/gene_ids.tsv",
        patient_features=f"{OUT}/profiling/patient_features.tsv",
        feature_map=f"{OUT}/profiling/patient_feature_map.tsv",
    params:
        p=stage_params("cohort", "profiling", "privacy"),
        options=optional_options("mutations", "calls", "binary_features"),
    log:
        "logs/profile.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank profile --params {params.p:q} --expression {input.expression:q} "
        "--clinical {input.clinical:q} --drugs {input.drugs:q} --cohort {output.cohort:q} "
        "--markers {output.markers:q} --target-z {output.target_z:q} "
        "--gene-ids {output.gene_ids:q} --patient-features {output.patient_features:q} "
        "--feature-map {output.feature_map:q} {params.options} 2> {log:q}"
