# microemo: `make run` sets up and runs the daemon on a bundled clip; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= train,dev
SAMPLE ?= tests/data/crema_d/clips/1001_DFA_HAP_XX.flv
ASSET  := models/face_landmarker.task

.PHONY: setup run analyze test check format bench model clean

setup: $(VENV)/.installed $(ASSET)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

# Fetched once and verified by sha256 (models/assets.lock.json); never at run time.
$(ASSET): models/assets.lock.json | $(VENV)/.installed
	$(BIN)/python -m microemo.assets fetch

run: setup
	$(BIN)/microemo run --config firmware_config/desktop.toml --source $(SAMPLE)

analyze: setup
	$(BIN)/microemo analyze tests/data/crema_d/clips/*.flv --out out/analyze

test: setup
	$(BIN)/python -m pytest

check: setup
	$(BIN)/ruff check device tools tests
	$(BIN)/ruff format --check device tools tests
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format device tools tests
	$(BIN)/ruff check --fix device tools tests

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_faces.py
	$(BIN)/microemo bench --config firmware_config/desktop.toml --source $(SAMPLE)

model: setup
	$(BIN)/microemo-train all --config models/train-default.toml

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
