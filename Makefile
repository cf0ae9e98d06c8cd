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
# `make test` runs the suite on this many processes (pytest-xdist, a test file to each: its
# module fixtures are built once); TEST_JOBS=1 runs it in this one, in order
TEST_JOBS ?= 2

.PHONY: setup venv run analyze test check format bench model calibrate appearance need-data clean

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
	$(BIN)/python -m pytest $(if $(filter-out 1,$(TEST_JOBS)),-n $(TEST_JOBS) --dist loadfile)

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
	$(BIN)/python benchmarks/bench_spotting.py
	$(BIN)/microemo bench --config firmware_config/desktop.toml --source $(SAMPLE)
	$(BIN)/python benchmarks/bench_cores.py
	$(BIN)/python benchmarks/bench_analyze.py
	$(BIN)/python benchmarks/bench_status.py
	$(BIN)/python benchmarks/bench_reason_tokens.py

model: setup
	$(BIN)/microemo-train all --config models/train-default.toml

# The default AU calibration, the fitted prototype weights and docs/aus.md, regenerated from
# CK+ (development layout or as distributed) and FER2013's training split (FER: class
# folders; its neutral, happy and surprised stills of the appearance split's train part join
# as weakly coded faces). Both are research-only: never commit the data. Landmarks are
# cached in .cache/: a second run skips the landmarker.
CKPLUS ?=
FER ?=
APPEARANCE_WORK ?= .cache/appearance
need-data:
	@test -n "$(CKPLUS)" -a -n "$(FER)" || { echo "make $(MAKECMDGOALS) CKPLUS=DIR FER=DIR: give the CK+ and FER2013 folders" >&2; exit 2; }
calibrate: setup need-data
	$(BIN)/microemo-train appearance --data fer=$(FER) --data ckplus=$(CKPLUS) \
		--out out/appearance --work $(APPEARANCE_WORK) --parts-only
	$(BIN)/microemo-train facs-calibrate --adapter ckplus --root $(CKPLUS) \
		--base tools/microemo_train/facs/au_hand_table.toml --out device/microemo/vision/au_calibration.toml \
		--stills $(APPEARANCE_WORK)/parts/fer-train.csv --cache .cache/facs \
		--emotion-out device/microemo/emotion/tables/core_weights.toml --docs docs/aus.md

# The built-in appearance model (aligned grey face crop -> core emotion, fused with the AUs),
# after `make calibrate`: the CNN on FER2013's and CK+'s train parts (CK+'s 12 test subjects
# unseen), then fine-tuned 10 epochs with faces morphed between CK+'s train-part neutral and
# apex stills; the fusion on both sets' fusion parts, figures on their test parts (about
# 1 h 20 min on 2 cores; both networks are kept in $(APPEARANCE_WORK), with notes).
appearance: setup need-data
	$(BIN)/microemo-train appearance --data fer=$(FER) --data ckplus=$(CKPLUS) \
		--cnn fer --cnn ckplus --out $(APPEARANCE_WORK)/first \
		--work $(APPEARANCE_WORK) --epochs 36 --width 1.5 --share fer=3
	$(BIN)/microemo-train appearance --data fer=$(FER) --data ckplus=$(CKPLUS) \
		--cnn fer --cnn ckplus --out device/microemo/model/appearance \
		--work $(APPEARANCE_WORK) --epochs 36 --width 1.5 --share fer=3 \
		--keras $(APPEARANCE_WORK)/cnn.keras --fine-tune 10 \
		--between 0.35,0.5,0.65,0.8 --temperature margin --version 0.2.1

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
