# One job per trajectory (ablate.trajectory). A run directory is named by the hash of its identity: the resolved
# config, without `epochs` where the schedule does not read them, with ablate.TRAINING_CODE_VERSION. Its length is
# the input function length_file (common.smk): a config that asks more of a finished run grows it from its final
# state, one that asks less trains nothing. Nothing else (touching files, moving the data, another device)
# retrains. The data manifest is `ancient`: re-checking the data never retrains either.
# Editing the shell command below makes Snakemake rerun every train job (its "code" rerun trigger), which
# rewrites each run's outputs from its kept final state. The identity comes from results/plan/runs/<run>.json
# (plan.smk), named by its hash: `ancient`. To retrain a run from scratch: delete results/runs/<run>.
# Progress: `train --log` appends one line per epoch (starting with the run's name) to the log and prints it
# to stdout, which snakemake's terminal shows; stderr (tracebacks) goes to the log only, and a failed run
# prints a one-line reason to stdout too. `python -m ablate status` says where every run stands.


rule train:
    input:
        data=ancient(DATASET_FILE),
        runtime=ancient(RUNTIME_SETTINGS),
        run_config=ancient(RUN_CONFIG),
        length=length_file,
    output:
        **{key: f"{RUNS_DIR}/{{run}}/{name}" for key, name in rundir.OUTPUTS.items()},
    log:
        "results/logs/train/{run}.log",
    benchmark:
        TRAIN_BENCHMARK
    conda:
        "../envs/ablate.yaml"
    threads: config["execution"]["train_threads"]
    resources:
        gpu=TRAIN_GPUS,
        gpu_slots=partial(train_slots, GPU_POOL),
        gres=train_gres,
    params:
        run_dir=lambda wc, output: os.path.dirname(output.metrics),
    shell:
        'python "$ABLATE_SCRIPTS/train.py" --run-config {input.run_config} --length {input.length} '
        "--run-dir {params.run_dir} --runtime {input.runtime} --threads {threads} --log {log} 2>> {log}"


# A member's weights, for the analyses that read weights (section 1.9, the surface): a link to those its run
# kept after the member's epochs. The input is `ancient`: a run that grows keeps its shorter members' weights.
localrules:
    member_weights,


rule member_weights:
    input:
        ancient(f"{RUNS_DIR}/{{run}}/{rundir.METRICS}"),
    output:
        MEMBER_WEIGHTS,
    log:
        "results/logs/member_weights/{run}-epoch{epochs}.log",
    benchmark:
        "results/benchmarks/member_weights/{run}-epoch{epochs}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        run_dir=lambda wc, input: os.path.dirname(input[0]),
    shell:
        'python "$ABLATE_SCRIPTS/member_weights.py" --run-dir {params.run_dir} --epochs {wildcards.epochs} '
        "--out {output} > {log} 2>&1"
