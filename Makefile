# vllm-compile developer tasks. `make run` and `make test` work on a fresh clone of a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench deploy-artifacts goldens schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## set up, compile specs/llama.yaml, show where the artifacts went
	$(BIN)/vllm-compile compile specs/llama.yaml
	@echo "artifacts: specs/deploy/llama-chat/ (compose.yaml, docker-run.sh)"

test: $(STAMP)  ## the whole test suite, with the real validators
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)  ## start-up and compile wall times, and the planner against real vLLM start-ups
	$(PY) bench/speed.py
	$(PY) bench/calibrate.py

deploy-artifacts: $(STAMP)  ## compile every spec under specs/ and fail if the result differs from what is committed
	$(BIN)/vllm-compile compile specs/*.yaml
	git diff --exit-code -- specs/ || (echo "specs/ artifacts differ from what is committed" >&2; exit 1)
	@test -z "$$(git ls-files --others --exclude-standard specs/)" || (echo "uncommitted artifacts under specs/" >&2; git ls-files --others --exclude-standard specs/ >&2; exit 1)

goldens: $(STAMP)  ## regenerate tests/golden/*/expected (then read and validate every changed file)
	VLLM_COMPILE_REGEN=1 HF_HUB_OFFLINE=1 $(BIN)/pytest -q tests/test_golden.py

schema: $(STAMP)  ## regenerate schemas/deployment.vllm.schema.json from the pydantic model
	$(BIN)/vllm-compile schema > schemas/deployment.vllm.schema.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
