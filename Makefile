# Two commands from a fresh clone:
#   make run   - set up (idempotent) and run the avatar agent server on embedded defaults
#   make test  - set up (idempotent) and run lint, type checks and the test suite
.PHONY: setup run test test-fast test-loaded test-loaded-all bench

VENV := .venv/bin
export HF_HUB_OFFLINE := 1

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/avatar-forcing serve

test: setup
	$(VENV)/ruff check .
	$(VENV)/mypy
	$(VENV)/lint-imports
	$(VENV)/python -m pytest --durations=15

# the live-server e2e and browser tests again with one core held by a busy loop
# (tests/load.py): behaviour must hold on a busy machine. CI runs it after
# `make test`; `make test-loaded-all` runs every e2e test so (before a release).
LOADED_TESTS := tests/pipelines/test_e2e_avatar.py tests/pipelines/test_e2e_adapt.py \
	tests/pipelines/test_kiosk_browser.py tests/pipelines/test_e2e_voice.py \
	tests/pipelines/test_barge_in_quick.py
test-loaded: setup
	$(VENV)/python -m pytest -m e2e --cpu-hog 1 -rs --durations=10 $(LOADED_TESTS)

test-loaded-all: setup
	$(VENV)/python -m pytest -m e2e --cpu-hog 1 -rs

test-fast: setup
	$(VENV)/python -m pytest -m "not e2e"

bench: setup
	@for script in bench/*.py; do echo "== $$script"; $(VENV)/python $$script; done
