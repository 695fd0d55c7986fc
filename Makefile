# step-gym: `make demo` and `make test` are all a newcomer needs; both install what is missing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The venv is built from a system-wide interpreter so the unprivileged desktop-session user can run it too.
BASE_PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
APT_PACKAGES := $(shell grep -v '^\#' step_envs/data/desktop/apt-packages.txt)
STAMP := $(VENV)/.installed

.PHONY: install apt criu vscode docker images demo test lint docs clean bench-check

install: apt $(STAMP) criu vscode

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# CRIU 4.2+ for snapshot resets (reset_mode="snapshot"): as root, a private Debian root with Debian's criu when the
# system has none that new (a few minutes once; nothing to do afterwards); skipped, with a note, when not root.
criu: $(STAMP)
	@$(PY) -m step_envs.providers.criu install --quiet-if-present

# VS Code for OSWorld's vs_code tasks: code-server 4.100.3 from npm at /opt/step-gym/code-server
# ($STEP_ENVS_CODE_SERVER), ~2 minutes and ~300 MB once, then a version check (step_envs/desktop/vscode.py); skipped,
# with a note, without root or Node.js 20, and a failed npm install does not stop make install.
vscode: apt $(STAMP)
	@$(PY) -m step_envs.desktop.vscode install --quiet-if-present || echo "code-server: not installed; OSWorld's vs_code tasks will not reset"

# A Docker engine (Debian's docker.io + dockerd in the background when none answers) and the desktop images
# (cached: a rebuild with no change takes seconds).
docker: install
	@bash step_envs/data/desktop/image/ensure-engine.sh

images: docker
	$(VENV)/bin/step-envs image build --variant all

demo: install
	$(VENV)/bin/step-envs demo

bench-check: install
	$(VENV)/bin/python benchmarks/headline.py

test: install images docs
	$(VENV)/bin/ruff check step_envs step_train tests benchmarks
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check step_envs step_train tests benchmarks

# The documentation site (mkdocs.yml, docs/) into build/site/; strict: a broken link or anchor fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .cache
