rule report:
    input:
        cohort=f"{OUT}/profiling/cohort.h5ad",
        target_z=f"{OUT}/profiling/target_z.tsv",
        rankings=f"{OUT}/ranking/rankings.parquet",
        metrics=f"{OUT}/sensitivity/metrics.tsv",
        response=reference_file("response"),
        prognosis=f"{OUT}/survival/patients.tsv",
        km=f"{OUT}/survival/km.tsv",
        patient_curves=f"{OUT}/survival/patient_curves.tsv",
        survival_metrics=f"{OUT}/survival/metrics.json",
        module_traits=f"{OUT}/correlation/module_traits.tsv",
        outcome_metrics=f"{OUT}/outcome/metrics.tsv",
        outcome_calibration=f"{OUT}/outcome/calibration.tsv",
        outcome_patients=f"{OUT}/outcome/patients.tsv",
        outcome_summary=f"{OUT}/outcome/summary.json",
        similar_lines=f"{OUT}/sensitivity/similar_lines.tsv",
    output:
        index=report(f"{OUT}/reports/index.html", caption="../report/index.rst", category="Reports"),
        patients=expand(f"{OUT}/reports/{{patient}}.html", patient=PATIENTS),
        provenance=f"{OUT}/provenance.json",
    params:
        p=stage_params("cohort_name", "cohort", "reference", "privacy"),
        outdir=subpath(output.index, parent=True),
    log:
        "logs/report.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank report --params {params.p:q} --cohort {input.cohort:q} "
        "--rankings {input.rankings:q} --metrics {input.metrics:q} --response {input.response:q} "
        "--prognosis {input.prognosis:q} --km {input.km:q} "
        "--patient-curves {input.patient_curves:q} --survival-metrics {input.survival_metrics:q} "
        "--target-z {input.target_z:q} --module-traits {input.module_traits:q} "
        "--outcome-metrics {input.outcome_metrics:q} --outcome-calibration {input.outcome_calibration:q} "
        "--outcome-patients {input.outcome_patients:q} --outcome-summary {input.outcome_summary:q} "
        "--similar-lines {input.similar_lines:q} --outdir {params.outdir:q} "
        "--provenance {output.provenance:q} 2> {log:q}"
