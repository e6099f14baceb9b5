# The CIFAR-10 ablation and BatchNorm study (../shared/seed/project2-report.md) as one workflow:
#   snakemake --cores all                                   the full study on CIFAR-10
#   snakemake --cores all --configfile config/smoke.yaml    the same studies, tiny, on synthetic data
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# Parse time and every job use the ablate library of this checkout (also inside conda environments
# and on cluster nodes, which inherit the environment), not whichever copy happens to be installed.
ABLATE_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, ABLATE_SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [ABLATE_SRC, os.environ.get("PYTHONPATH")])))
# Each rule's job runs its entry script, `python "$ABLATE_SCRIPTS/<rule>.py"`, from `shell:` and not `script:`:
# Snakemake reruns every job of a `script:` rule whose script is newer than its outputs (a `git pull` does
# that), which would retrain the whole study. An environment variable, not a path in the command: the command
# stays the same wherever the checkout lies (a changed command reruns jobs too).
os.environ["ABLATE_SCRIPTS"] = os.path.join(workflow.basedir, "workflow", "scripts")


envvars:
    "ABLATE_SCRIPTS",


# Snakemake's own reader of config files names neither the file nor the line of a YAML syntax error; ours
# does (file:line:column). It can check the workflow's config file only: Snakemake reads the --configfile files
# before this file runs (docs/config.md, "The config model: studies expand into runs": how to check one).
from ablate.execution import forkserver
from ablate.plan.config import read_yaml

if os.path.exists("config/config.yaml"):
    read_yaml("config/config.yaml")


configfile: "config/config.yaml"


# `snakemake --report report/snakemake-report.zip`: Snakemake's own report of the outputs marked report()
report: "workflow/report/workflow.rst"


include: "workflow/rules/upstream.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/interpret.smk"
include: "workflow/rules/report.smk"


# The fork server (FORK_SERVER, common.smk): started before the first job (not for a dry run), stopped after the
# last one, and it ends by itself within a second of this process's death.
onstart:
    if FORK_SERVER:
        forkserver.start(os.environ["ABLATE_SCRIPTS"])


onsuccess:
    forkserver.stop()


onerror:
    forkserver.stop()


rule all:
    default_target: True
    input:
        REPORT,
