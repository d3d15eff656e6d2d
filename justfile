# ffllm tasks. On a fresh machine run them through ./ff (it sets up .venv first).
set positional-arguments

export DS_ACCELERATOR := env_var_or_default("DS_ACCELERATOR", "cpu")
export HF_HUB_OFFLINE := env_var_or_default("HF_HUB_OFFLINE", "1")
export HF_DATASETS_OFFLINE := env_var_or_default("HF_DATASETS_OFFLINE", "1")

default:
    @just --list

# Build a set from manifests/NAME.yaml (e.g. just build repair_blocks)
build name *args:
    ffdata build "$@"

# Run the saved SQL audits on a set's latest build (e.g. just audit repair_blocks --root s3://…)
audit name *args:
    ffdata audit "$@"

# Train (or resume) a run from manifests/train/RUN.yaml (e.g. just train tiny_repair --root …)
train run *args:
    shift; ffllm train "manifests/train/{{run}}.yaml" "$@"

# Run a pipeline from manifests/pipelines/NAME.yaml, skipping finished stages (e.g. just pipeline tiny)
pipeline name *args:
    shift; ffllm pipeline "manifests/pipelines/{{name}}.yaml" "$@"

# The whole test suite (what CI runs), then the linter
test *args:
    pytest -q "$@"
    ruff check .

# Lint and format check
lint:
    ruff check .
    ruff format --check .
