# microemo: `make run` sets up and runs the daemon on a bundled clip; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# `make test`, `check` and `model` need the training tool (TensorFlow), the dev tools and
# the hub's language-model client (openai, for microemo-reason's tests);
# `make run`, `analyze` and `bench` run the device only, so a fresh checkout's `make run`
# installs no TensorFlow. One venv: extras asked for later are added to it.
EXTRAS ?= train,dev,reason
RUN_EXTRAS ?=
SAMPLE ?= tests/data/crema_d/clips/1001_DFA_HAP_XX.flv
ASSET  := models/face_landmarker.task

.PHONY: setup venv run analyze test check format bench model calibrate clean

run analyze bench: EXTRAS = $(RUN_EXTRAS)

setup: venv $(ASSET)

# deploy/venv.sh: exactly one OpenCV (headless) in the venv; quick when nothing changed
venv:
	@PYTHON=$(PYTHON) deploy/venv.sh $(VENV) --extras '$(EXTRAS)'

# Fetched once and verified by sha256 (models/assets.lock.json); never at run time.
$(ASSET): models/assets.lock.json | venv
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
	$(BIN)/python benchmarks/bench_appearance.py
	$(BIN)/python benchmarks/bench_faces.py
	$(BIN)/python benchmarks/bench_cabin.py
	$(BIN)/python benchmarks/bench_mouth.py
	$(BIN)/microemo bench --config firmware_config/desktop.toml --source $(SAMPLE)
	$(BIN)/python benchmarks/bench_cores.py
	$(BIN)/python benchmarks/bench_analyze.py
	$(BIN)/python benchmarks/bench_status.py
	$(BIN)/python benchmarks/bench_reason_tokens.py

model: setup
	$(BIN)/microemo-train all --config models/train-default.toml

# The default AU calibration, the fitted prototype weights and docs/aus.md, regenerated from
# CK+ (development layout or as distributed; its terms are research-only: never commit the
# data). Landmarks are cached in .cache/: a second run skips the landmarker.
CKPLUS ?=
calibrate: setup
	@test -n "$(CKPLUS)" || { echo "make calibrate CKPLUS=DIR: give the CK+ folder" >&2; exit 2; }
	$(BIN)/microemo-train facs-calibrate --adapter ckplus --root $(CKPLUS) \
		--base tools/microemo_train/facs/au_hand_table.toml --out device/microemo/vision/au_calibration.toml \
		--emotion-out device/microemo/emotion/tables/core_weights.toml --docs docs/aus.md

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
