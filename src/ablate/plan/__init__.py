"""Stage 1, the plan: config files -> a validated config (config, schema.yaml) -> studies and their unique
runs, each named by the hash of its resolved config (runs) -> how the config departs from the study (scope).
Torch-free: the workflow plans at parse time."""
