# Set-up and checks. Every target that needs the environment bootstraps it first: uv (installed with pip if missing)
# syncs .venv from uv.lock with the dev and spark extras (the Spark tests need a JDK 17 on PATH). Needs only Python >= 3.11,
# pip and the package index.
PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
BIN := $(VENV)/bin

# Use the machine's Python; never download an interpreter.
export UV_PYTHON_DOWNLOADS := never

.PHONY: env demo test lint bench bench-floor bench-ab bench-reprocess bench-compact bench-spark clean

env:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv \
		|| $(PYTHON) -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --frozen --extra dev --extra spark --quiet

# The whole pipeline on this machine for 10 seconds (transform-core local --demo): generated records, bad ones included,
# half over HTTP (POST /events) and half put directly, through the Lambda, Firehose, the lake and the curated table.
demo: env
	$(BIN)/transform-core local --demo

lint: env
	$(BIN)/ruff check .
	$(BIN)/mypy transform_core
	$(BIN)/cfn-lint deploy/template.yaml

test: lint
	$(BIN)/pytest
	SMOKE=1 $(BIN)/pytest benchmarks -q --benchmark-disable

# One table (interleaved rounds, end-to-end medians, peak RSS, cold start, cost); JSON under benchmarks/results/.
bench: env
	$(BIN)/python -m benchmarks

# Per clean workload: the time budget the project's speed target against the per-record msgspec handler leaves the
# engine, next to the library calls an exact engine cannot skip (about 15 s).
bench-floor: env
	$(BIN)/python -m benchmarks.floor

# Handler A/B of this checkout against BASE (a git ref or a folder): `make bench-ab BASE=HEAD~1` (about 80 s).
BASE ?= HEAD
bench-ab: env
	$(BIN)/python -m benchmarks.ab $(BASE)

# The million-record reprocessing run next to the reference (about 3 minutes plus 40 s to generate the input once, so
# kept out of `bench`); JSON under benchmarks/results/, input cached under benchmarks/.cache/.
bench-reprocess: env
	$(BIN)/python -m benchmarks.reprocess_bench

# compact of a million raw rows next to the manifest compaction of dbe487e (about 1 minute); JSON under benchmarks/results/.
bench-compact: env
	$(BIN)/python -m benchmarks.compact_bench

# spark-reprocess on local[N] next to reprocess on the same million records (about 6 minutes: three rounds, each
# starting a JVM twice); JSON under benchmarks/results/. See docs/spark.md.
bench-spark: env
	$(BIN)/python -m benchmarks.spark_bench

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks benchmarks/.cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
