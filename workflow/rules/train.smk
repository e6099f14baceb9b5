# One job per unique run. A run directory is named by the hash of its resolved config, which includes
# ablate.TRAINING_CODE_VERSION; nothing else (touching files, moving the data, another device) retrains.
# The data manifest is `ancient`: re-checking the data never retrains either.
# Editing the shell command below makes Snakemake retrain every run (its "code" rerun trigger).
# The run's config comes from results/plan/runs/<run>.json (plan.smk), named by its hash: `ancient`.
# To retrain on purpose: `snakemake --cores all --forcerun train` (all runs) or delete results/runs/<run>.
# Progress: `train --log` appends one line per epoch (starting with the run's name) to the log and prints it
# to stdout, which snakemake's terminal shows; stderr (tracebacks) goes to the log only, and a failed run
# prints a one-line reason to stdout too. `python -m ablate status` says where every run stands.


rule train:
    input:
        data=ancient(DATASET_FILE),
        runtime=ancient(RUNTIME_SETTINGS),
        run_config=ancient(RUN_CONFIG),
    output:
        **{key: f"{RUNS_DIR}/{{run}}/{name}" for key, name in rundir.OUTPUTS.items()},
    params:
        run_dir=lambda wc, output: os.path.dirname(output.metrics),
    log:
        "results/logs/train/{run}.log",
    benchmark:
        TRAIN_BENCHMARK
    threads: config["execution"]["train_threads"]
    resources:
        gpu=TRAIN_GPUS,
        gpu_slots=partial(train_slots, GPU_POOL),
        gres=train_gres,
    conda:
        "../envs/ablate.yaml"
    shell:
        'python "$ABLATE_SCRIPTS/train.py" --run-config {input.run_config} --run-dir {params.run_dir} '
        "--runtime {input.runtime} --threads {threads} --log {log} 2>> {log}"
