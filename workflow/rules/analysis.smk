# Per study: the per-variant summary, the curves, and the BatchNorm analyses; Table 1; the published numbers beside
# ours. Each script gets the paths its rule declares (--files) and reads no others. What the report shows of each
# output marked `shown(...)`, and its caption, is its entry in ablate/exhibits.yaml.


rule study_summary:
    input:
        runs=STUDY_RUNS,
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
        metrics=lambda wc: study_files(rundir.METRICS, wc.study),
        histories=lambda wc: study_files(rundir.HISTORY, wc.study),  # a member's numbers are of its epochs
    output:
        shown("summary"),
    log:
        "results/logs/study_summary/{study}.log",
    benchmark:
        "results/benchmarks/study_summary/{study}.tsv"
    conda:
        "../envs/ablate.yaml"
    shell:
        'python "$ABLATE_SCRIPTS/study_summary.py" --runs {input.runs} --files {input.configs} {input.metrics} '
        "{input.histories} --out {output} > {log} 2>&1"


rule study_curves:
    input:
        runs=STUDY_RUNS,
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
        histories=lambda wc: study_files(rundir.HISTORY, wc.study),
        metrics=lambda wc: study_files(rundir.METRICS, wc.study),
    output:
        shown("curves"),
    log:
        "results/logs/study_curves/{study}.log",
    benchmark:
        "results/benchmarks/study_curves/{study}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/study_curves.py" --runs {input.runs} '
        "--files {input.configs} {input.histories} {input.metrics} --title {params.title:q} --out {output} "
        "> {log} 2>&1"


# A generic figure of ablate/exhibits.yaml (an entry with a function): its function draws it from a study's runs,
# reading the run files its entry names.
rule exhibit:
    input:
        runs=STUDY_RUNS,
        files=exhibit_files,
    output:
        report(
            GENERIC_FILE,
            caption=CAPTIONS["exhibit"],
            category="2. Studies",
            subcategory="{study}",
            labels={"study": "{study}", "figure": "{exhibit}"},
        ),
    log:
        "results/logs/exhibit/{study}-{exhibit}.log",
    benchmark:
        "results/benchmarks/exhibit/{study}-{exhibit}.tsv"
    wildcard_constraints:
        exhibit="|".join(e.name for e in generic()) or "(?!)",  # none: the rule makes nothing
    conda:
        "../envs/ablate.yaml"
    params:
        function=lambda wc: EXHIBITS[wc.exhibit].function,
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/exhibit.py" --function {params.function} --runs {input.runs} --files {input.files} '
        "--title {params.title:q} --out {output} > {log} 2>&1"


# The BatchNorm analyses (2.2-2.4): per step, the band of a probe over the runs of each model.
rule probe_envelope:
    input:
        runs=STUDY_RUNS,
        steps=lambda wc: study_files(rundir.STEPS, wc.study),
        metrics=lambda wc: study_files(rundir.METRICS, wc.study),
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
    output:
        table=ENVELOPE_TABLE,
        figure=shown("envelope"),
    log:
        "results/logs/probe_envelope/{study}-{probe}.log",
    benchmark:
        "results/benchmarks/probe_envelope/{study}-{probe}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        group_by=config["analysis"]["group_by"],
        smoothing=config["analysis"]["smoothing"],
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/probe_envelope.py" --runs {input.runs} '
        "--files {input.configs} {input.steps} {input.metrics} --probe {wildcards.probe} "
        "--group-by {params.group_by:q} --smoothing {params.smoothing} --title {params.title:q} "
        "--table {output.table} --figure {output.figure} > {log} 2>&1"


rule hyperparameters:
    input:
        RUN_CONFIG.format(run=PLAN.ref_member("hyperparameters").run_id),
    output:
        shown("hyperparameters"),
    log:
        "results/logs/hyperparameters.log",
    benchmark:
        "results/benchmarks/hyperparameters.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        epochs=PLAN.ref_member("hyperparameters").epochs,
    shell:
        'python "$ABLATE_SCRIPTS/hyperparameters.py" --run-config {input} --epochs {params.epochs} --out {output} '
        "> {log} 2>&1"


# Published vs reproduced: every number of config/published.yaml (report.published) beside ours, from the runs
# of the studies it names that the config plans.
if config["report"]["published"]:

    rule published:
        input:
            published=config["report"]["published"],
            runs=[STUDY_RUNS.format(study=s) for s in PUBLISHED_STUDIES],
            metrics=study_files(rundir.METRICS, *PUBLISHED_STUDIES),
            histories=study_files(rundir.HISTORY, *PUBLISHED_STUDIES),
        output:
            shown("published"),
        log:
            "results/logs/published.log",
        benchmark:
            "results/benchmarks/published.tsv"
        conda:
            "../envs/ablate.yaml"
        shell:
            'python "$ABLATE_SCRIPTS/published.py" --published {input.published} --runs {input.runs} '
            "--files {input.metrics} {input.histories} --out {output} > {log} 2>&1"


# Section 2.6 (beyond the original): Santurkar's effective beta beside the Hessian's lambda_max, run by run and
# step by step, and the curvature probe per model, for studies whose runs record the curvature probe.
rule beta_vs_curvature:
    input:
        runs=STUDY_RUNS,
        steps=lambda wc: study_files(rundir.STEPS, wc.study),
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
    output:
        table=BETA_CURVATURE_TABLE,
        summary=EXHIBITS["curvature_summary"].file,
        figure=shown("beta_vs_curvature"),
    log:
        "results/logs/beta_vs_curvature/{study}.log",
    benchmark:
        "results/benchmarks/beta_vs_curvature/{study}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        group_by=config["analysis"]["group_by"],
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/beta_vs_curvature.py" --runs {input.runs} --files {input.configs} {input.steps} '
        "--group-by {params.group_by:q} --title {params.title:q} --table {output.table} "
        "--summary {output.summary} --figure {output.figure} > {log} 2>&1"


# The Hessian's eigenvalue density that the curvature probe took at a few steps of each run (its density.csv).
rule hessian_density:
    input:
        runs=STUDY_RUNS,
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
        densities=lambda wc: study_files(rundir.DENSITY, wc.study),
    output:
        summary=EXHIBITS["density_summary"].file,
        figure=shown("density"),
    log:
        "results/logs/hessian_density/{study}.log",
    benchmark:
        "results/benchmarks/hessian_density/{study}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        group_by=config["analysis"]["group_by"],
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/hessian_density.py" --runs {input.runs} --files {input.configs} {input.densities} '
        "--group-by {params.group_by:q} --title {params.title:q} --summary {output.summary} "
        "--figure {output.figure} > {log} 2>&1"


# Li et al.'s 2-D surface around a member's final weights and the path from its initial weights, with the
# settings of the study's `surface` (not part of the run's identity: changing them reruns this, never training).
rule surface:
    input:
        run_config=ancient(f"{RUNS_DIR}/{{run}}/{rundir.CONFIG}"),  # its architecture: the same at every length
        weights=ancient(MEMBER_WEIGHTS),  # the same for as long as its name: a link that shares model.pt's mtime
        data=ancient(DATASET_FILE),
        runtime=ancient(RUNTIME_SETTINGS),
    output:
        grid=SURFACE_GRID,
        path=SURFACE_PATH,
    log:
        "results/logs/surface/{study}-{run}-epoch{epochs}.log",
    benchmark:
        "results/benchmarks/surface/{study}-{run}-epoch{epochs}.tsv"
    conda:
        "../envs/ablate.yaml"
    threads: config["execution"]["train_threads"]
    params:
        run_dir=lambda wc: rundir.run_dir(wc.run),
        settings=lambda wc: surface_settings(wc.study),
    shell:
        'python "$ABLATE_SCRIPTS/surface.py" --run-dir {params.run_dir} --weights {input.weights} '
        "--runtime {input.runtime} --settings {params.settings} --threads {threads} "
        "--grid {output.grid} --path {output.path} > {log} 2>&1"


rule surface_figure:
    input:
        runs=STUDY_RUNS,
        configs=lambda wc: study_files(rundir.CONFIG, wc.study),
        grids=lambda wc: surface_files(SURFACE_GRID, wc.study),
        paths=lambda wc: surface_files(SURFACE_PATH, wc.study),
    output:
        figure=shown("surface"),
        summary=EXHIBITS["surface_summary"].file,
    log:
        "results/logs/surface_figure/{study}.log",
    benchmark:
        "results/benchmarks/surface_figure/{study}.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        group_by=config["analysis"]["group_by"],
        title=lambda wc: PLAN.studies[wc.study].title,
    shell:
        'python "$ABLATE_SCRIPTS/surface_figure.py" --runs {input.runs} --files {input.configs} '
        "--grids {input.grids} --paths {input.paths} --group-by {params.group_by:q} --title {params.title:q} "
        "--out {output.figure} --summary {output.summary} > {log} 2>&1"


# What the runs show: each claim of the original (and of Santurkar's and ours) with our numbers and its verdict.
# `toy` names how the config departs from the full study: then every verdict is about toy data.
rule findings:
    input:
        runs=[STUDY_RUNS.format(study=s) for s in FINDINGS_STUDIES],
        configs=study_files(rundir.CONFIG, *FINDINGS_STUDIES),
        metrics=study_files(rundir.METRICS, *FINDINGS_STUDIES),
        histories=study_files(rundir.HISTORY, *FINDINGS_STUDIES),
        steps=study_files(rundir.STEPS, *FINDINGS_STUDIES),
        analyses=FINDINGS_ANALYSES,
    output:
        shown("findings"),
    log:
        "results/logs/findings.log",
    benchmark:
        "results/benchmarks/findings.tsv"
    conda:
        "../envs/ablate.yaml"
    params:
        toy=", ".join(SPEC["departures_from_study"]),
    shell:
        'python "$ABLATE_SCRIPTS/findings.py" --runs {input.runs} --files {input.configs} {input.metrics} '
        "{input.histories} {input.steps} --analyses {input.analyses} --toy {params.toy:q} --out {output} "
        "> {log} 2>&1"
