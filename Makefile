# The two commands the README starts with: `make demo` and `make test`.
.PHONY: bootstrap test lint bench demo demo-stop services-stop

PYTEST_ARGS ?=

bootstrap:
	@scripts/bootstrap.sh

# The gateway's unit tests in its own venv (Python 3.11, no Sentry), then everything else
# inside Sentry 23.7.1 (Python 3.8), including the gateway's processes end to end.
test: bootstrap
	.venv-gateway/bin/python -m pytest tests/gateway -q $(PYTEST_ARGS)
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	shellcheck -x puppet/diagnostics/tasks/*.sh puppet/remediation/tasks/*.sh puppet/diagnostics/files/lib/*.sh scripts/*.sh .ci/run

bench: bootstrap
	.venv/bin/python -m pytest bench -q -s -p no:warnings

services-stop:
	@scripts/services-stop.sh

demo:
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop
