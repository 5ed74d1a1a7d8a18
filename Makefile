# The two commands the README starts with: `make demo` and `make test`.
.PHONY: bootstrap test lint bench demo demo-stop services-stop

PYTEST_ARGS ?=

bootstrap:
	@scripts/bootstrap.sh

test: bootstrap
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	shellcheck puppet/diagnostics/tasks/*.sh scripts/*.sh .ci/run

bench: bootstrap
	.venv/bin/python -m pytest bench -q -s -p no:warnings

services-stop:
	@scripts/services-stop.sh

demo:
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop
