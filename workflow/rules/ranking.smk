rule rank:
    input:
        predictions=f"{OUT}/sensitivity/predictions.parquet",
        metrics=f"{OUT}/sensitivity/metrics.tsv",
        response=reference_file("response"),
        drugs=reference_file("drugs"),
        target_z=f"{OUT}/profiling/target_z.tsv",
        treatment_effects=f"{OUT}/survival/treatment_effects.tsv",
        module_traits=f"{OUT}/correlation/module_traits.tsv",
        eigengenes=f"{OUT}/correlation/eigengenes.tsv",
        feature_drug=f"{OUT}/correlation/feature_drug.tsv",
        patient_features=f"{OUT}/profiling/patient_features.tsv",
    output:
        rankings=f"{OUT}/ranking/rankings.parquet",
        table=report(f"{OUT}/ranking/rankings.tsv", caption="../report/rankings.rst", category="Ranking"),
    params:
        p=stage_params("reference", "ranking"),
    log:
        "logs/rank.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank rank --params {params.p:q} --predictions {input.predictions:q} "
        "--metrics {input.metrics:q} --response {input.response:q} --drugs {input.drugs:q} "
        "--target-z {input.target_z:q} --treatment-effects {input.treatment_effects:q} "
        "--module-traits {input.module_traits:q} --eigengenes {input.eigengenes:q} "
        "--feature-drug {input.feature_drug:q} --patient-features {input.patient_features:q} "
        "--out {output.rankings:q} --tsv {output.table:q} 2> {log:q}"
