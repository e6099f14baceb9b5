# One job per unique run. A run directory is named by the hash of its resolved config, which includes
# ablate.TRAINING_CODE_VERSION; nothing else (touching files, moving the data, another device) retrains.
# The data manifest is `ancient`: re-checking the data never retrains either.
# Editing the shell command below makes Snakemake retrain every run (its "code" rerun trigger).
# To retrain on purpose: `snakemake --cores all --forcerun train` (all runs) or delete results/runs/<run>.
# Progress: `train --log` appends one line per epoch (starting with the run's name) to the log and prints it
# to stdout, which snakemake's terminal shows; stderr (tracebacks) goes to the log only, and a failed run
# prints a one-line reason to stdout too. `python -m ablate status` says where every run stands.


rule train:
    input:
        data=ancient(DATASET_MANIFEST),
        runtime=ancient("results/runtime.json"),
    output:
        config=f"{RUNS_DIR}/{{run}}/config.json",
        history=f"{RUNS_DIR}/{{run}}/history.csv",
        steps=f"{RUNS_DIR}/{{run}}/steps.csv",
        model=f"{RUNS_DIR}/{{run}}/model.pt",
        metrics=f"{RUNS_DIR}/{{run}}/metrics.json",
    params:
        run_dir=lambda wc: f"{RUNS_DIR}/{wc.run}",
        run_config=run_config_json,
    log:
        "results/logs/train/{run}.log",
    benchmark:
        "results/benchmarks/train/{run}.tsv"
    threads: config["execution"]["train_threads"]
    resources:
        gpu=TRAIN_GPUS,
        gpu_slots=partial(train_slots, GPU_POOL),
        gres=train_gres,
    conda:
        "../envs/ablate.yaml"
    shell:
        "python -m ablate train --run-dir {params.run_dir} --run-config {params.run_config:q} "
        "--runtime {input.runtime} --threads {threads} --log {log} 2>> {log}"
