# Section 1.9, network interpretation, where the config names its two runs (report.filters and
# report.feature_maps): the ResNets' architecture table (measured by a forward pass), the
# first-layer filters of a trained ResNet, and a test image's feature maps through one stage.
if interprets(PLAN):
    FILTERS_RUN = PLAN.ref_run_dir("filters")
    FEATURE_MAPS_RUN = PLAN.ref_run_dir("feature_maps")
    FILTERS_WEIGHTS = weights_file(PLAN.ref_member("filters"))
    FEATURE_MAPS_WEIGHTS = weights_file(PLAN.ref_member("feature_maps"))

    rule architecture:
        output:
            shown("architecture"),
        log:
            "results/logs/architecture.log",
        benchmark:
            "results/benchmarks/architecture.tsv"
        conda:
            "../envs/ablate.yaml"
        params:
            width=PLAN.runs[Path(FEATURE_MAPS_RUN).name].config["width"],
        shell:
            'python "$ABLATE_SCRIPTS/architecture.py" --width {params.width} --out {output} > {log} 2>&1'

    rule filters:
        input:
            run_config=ancient(f"{FILTERS_RUN}/{rundir.CONFIG}"),  # its architecture: the same at every length
            weights=ancient(FILTERS_WEIGHTS),  # the same for as long as its name (a link: model.pt's mtime)
        output:
            shown("filters"),
        log:
            "results/logs/filters.log",
        benchmark:
            "results/benchmarks/filters.tsv"
        conda:
            "../envs/ablate.yaml"
        params:
            run_dir=lambda wc, input: os.path.dirname(input.run_config),
        shell:
            'python "$ABLATE_SCRIPTS/filters.py" --run-dir {params.run_dir} --weights {input.weights} --out {output} '
            "> {log} 2>&1"

    rule feature_maps:
        input:
            run_config=ancient(f"{FEATURE_MAPS_RUN}/{rundir.CONFIG}"),
            weights=ancient(FEATURE_MAPS_WEIGHTS),
            data=ancient(DATASET_FILE),  # the decoded arrays beside it hold its image
            runtime=ancient(RUNTIME_SETTINGS),
        output:
            shown("feature_maps"),
        log:
            "results/logs/feature_maps.log",
        benchmark:
            "results/benchmarks/feature_maps.tsv"
        conda:
            "../envs/ablate.yaml"
        params:
            run_dir=lambda wc, input: os.path.dirname(input.run_config),
            stage=config["report"]["feature_maps"]["stage"],
            image=config["report"]["feature_maps"]["image"],
        shell:
            'python "$ABLATE_SCRIPTS/feature_maps.py" --run-dir {params.run_dir} --weights {input.weights} '
            "--runtime {input.runtime} --stage {params.stage} --image {params.image} --out {output} > {log} 2>&1"
