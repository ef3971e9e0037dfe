rule check:
    input:
        unpack(check_inputs),
    output:
        summary=f"{OUT}/check/summary.json",
    params:
        p=check_params(),
    log:
        "logs/check.log",
    conda:
        "../envs/rxrank.yaml"
    shell:
        "rxrank check --params {params.p:q} --out {output.summary:q} > {log:q} 2>&1"
