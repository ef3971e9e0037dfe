rule report:
    input:
        cohort="results/profiling/cohort.h5ad",
        target_z="results/profiling/target_z.tsv",
        rankings="results/ranking/rankings.tsv",
        metrics="results/sensitivity/metrics.tsv",
        response=reference_file("response"),
        prognosis="results/survival/patients.tsv",
        km="results/survival/km.tsv",
        patient_curves="results/survival/patient_curves.tsv",
        survival_metrics="results/survival/metrics.json",
        module_traits="results/correlation/module_traits.tsv",
        outcome_metrics="results/outcome/metrics.tsv",
        outcome_calibration="results/outcome/calibration.tsv",
        outcome_patients="results/outcome/patients.tsv",
        outcome_summary="results/outcome/summary.json",
    output:
        index=report("results/reports/index.html", caption="../report/index.rst", category="Reports"),
        patients=expand("results/reports/{patient}.html", patient=PATIENTS),
        provenance="results/provenance.json",
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
        "--outdir {params.outdir:q} "
        "--provenance {output.provenance:q} 2> {log:q}"
