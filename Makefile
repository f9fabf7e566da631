# Two commands from a fresh clone:
#   make run   - set up (idempotent) and run the avatar agent server on embedded defaults
#   make test  - set up (idempotent) and run lint, type checks and the test suite
.PHONY: setup run test test-fast bench

VENV := .venv/bin
export HF_HUB_OFFLINE := 1

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/avatar-forcing serve

test: setup
	$(VENV)/ruff check .
	$(VENV)/mypy
	$(VENV)/python -m pytest

test-fast: setup
	$(VENV)/python -m pytest -m "not e2e"

bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(VENV)/python $$script; done
