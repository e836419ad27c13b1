# The README's two commands: `make demo` (the main job end to end on the embedded local AWS) and `make test`.
# The venv holds sqsq (editable) with every extra, plus the development tools of pyproject's [dependency-groups]
# dev (PEP 735; `pip install --group` needs pip >= 25.1).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The SAM CLI (for `sam build`/`sam package` in the deployment tests and `make sam-build`) pins its own boto3, so it
# gets a venv of its own.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: demo demo-lambda test lint bench clean template

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e ".[cli,lambda,local,reload,dashboard]" --group dev
	touch $(STAMP)

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet "aws-sam-cli>=1.130,<2"
	touch $(SAM_STAMP)

demo: $(STAMP)
	$(PY) -m sqsq.demo

# `make demo-lambda BUILT=1`: render the template, `sam build` it, and run the *built* artifact in Lambda's runtime
# interface client (awslambdaric processes on a local Runtime API), deployed from the built template.
demo-lambda: $(STAMP)
ifeq ($(BUILT),1)
	$(MAKE) template $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM) build --config-file infra/samconfig.toml
	$(PY) -m sqsq.demo --runtime lambda --built .aws-sam/build
else
	$(PY) -m sqsq.demo --runtime lambda
endif

test: $(STAMP) $(SAM_STAMP)
	$(PY) -m ruff check sqsq lambdas tests
	$(PY) -m mypy sqsq
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(PY) -m ruff check sqsq lambdas tests
	$(PY) -m mypy sqsq
	$(VENV)/bin/cfn-lint template.yaml

# The demo's template.yaml and layer requirements, rendered from its tasks (a test fails when they drift).
template: $(STAMP)
	$(VENV)/bin/sqsq template sqsq.demo.app:app -o template.yaml --code-uri lambdas --layer-dir infra/lambda-layer --no-samconfig

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache
