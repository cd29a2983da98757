# vllm-compile developer tasks. `make run` and `make test` work on a fresh clone of a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# Two install levels: what running needs (`make run`), and that plus the validators, pytest,
# mypy and ruff (`make test`). Each stamp is redone when pyproject.toml changes.
STAMP      := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint fuzz bench deploy-artifacts goldens schema codes data-digest dataclass-methods clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(TEST_STAMP)

run: $(STAMP)  ## set up, compile specs/llama.yaml, show where the artifacts went
	$(BIN)/vllm-compile compile specs/llama.yaml
	@echo "artifacts: specs/deploy/llama-chat/ (compose.yaml, docker-run.sh)"
	@echo "vllm-compile is in $(BIN): run \`. $(BIN)/activate\` to put it on PATH"

lint: $(TEST_STAMP)  ## ruff and mypy, with the settings in pyproject.toml
	$(BIN)/ruff check .
	$(BIN)/mypy vllm_compile

# pytest's -q comes from pyproject.toml; a second -q would hide the closing "N passed" line.
test: lint  ## lint and type checks, then the whole test suite, with the real validators
	HF_HUB_OFFLINE=1 $(BIN)/pytest -p no:cacheprovider

# Long fuzz runs before a release: each suite under tests/fuzz reads its example count from an
# env var (bounded defaults keep `make test` quick). Add a suite's variable here to extend it.
FUZZ_PREDICT ?= 10000
FUZZ_COMPILE ?= 20000
FUZZ_DRIFT   ?= 5000
fuzz: $(TEST_STAMP)  ## the fuzz suites at release strength (predict, compile, check/diff)
	VLLM_COMPILE_FUZZ_PREDICT=$(FUZZ_PREDICT) VLLM_COMPILE_FUZZ_COMPILE=$(FUZZ_COMPILE) \
		VLLM_COMPILE_FUZZ_DRIFT=$(FUZZ_DRIFT) HF_HUB_OFFLINE=1 \
		$(BIN)/pytest -p no:cacheprovider --hypothesis-show-statistics tests/fuzz

bench: $(STAMP)  ## start-up and compile wall times, and the planner against real vLLM start-ups
	$(PY) bench/speed.py
	$(PY) bench/calibrate.py

deploy-artifacts: $(STAMP)  ## compile every spec under specs/ and fail if the result differs from what is committed
	$(BIN)/vllm-compile compile specs/*.yaml
	git diff --exit-code -- specs/ || (echo "specs/ artifacts differ from what is committed" >&2; exit 1)
	@test -z "$$(git ls-files --others --exclude-standard specs/)" || (echo "uncommitted artifacts under specs/" >&2; git ls-files --others --exclude-standard specs/ >&2; exit 1)

goldens: $(TEST_STAMP)  ## regenerate tests/golden/*/expected (then read and validate every changed file)
	VLLM_COMPILE_REGEN=1 HF_HUB_OFFLINE=1 $(BIN)/pytest -q tests/test_golden.py

codes: $(STAMP)  ## regenerate the README's table of diagnostic codes from vllm_compile/codes.py
	$(BIN)/python -m vllm_compile.codes --readme README.md

schema: $(STAMP)  ## regenerate schemas/deployment.vllm.schema.json (and its packaged copy) from the pydantic model
	$(BIN)/vllm-compile schema > schemas/deployment.vllm.schema.json
	$(PY) -m vllm_compile.ir.records
	$(PY) -m vllm_compile.data_digest

data-digest: $(STAMP)  ## after changing vllm_compile/data: record its digest (an input of `check`'s fast path)
	$(PY) -m vllm_compile.data_digest

dataclass-methods: $(STAMP)  ## after adding or changing a dataclass: regenerate vllm_compile/_dataclass_methods.py (fastclass.py)
	$(PY) tools/gen_dataclass_methods.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
