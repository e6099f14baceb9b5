"""Stage 1, the plan: config files -> a validated config (config, schema.yaml, schema) -> studies, their
variants (variants) and their unique runs, each named by the hash of its resolved config (runs) -> the plan's
files (layout). Torch-free: the workflow plans at parse time. (How a config departs from the original study is
the report's: ablate.report.scope.)"""
