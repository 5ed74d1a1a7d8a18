# The two commands the README starts with: `make demo` and `make test`.
.PHONY: bootstrap test lint bench demo demo-stop services-stop dist

PYTEST_ARGS ?=

bootstrap:
	@scripts/bootstrap.sh

# The Puppet task's own tests (bash on fake nodes; each run mostly waits out the task's 1 s
# sample, so they run 2 at a time: more made the cgroup scenarios flaky on 2 cores) need neither Sentry nor Python 3.8.
# The Bolt runner's tests (the Bolt stand-in over a loopback sshd, no Sentry) run with them.
TASK_TESTS = tests/test_findings_scenarios.py tests/test_findings_task.py tests/test_collect_task.py tests/test_redaction_urls.py \
	tests/test_bolt_runner.py tests/test_bolt_answers.py

# The gateway's unit tests in its own venv (Python 3.11, no Sentry), the task's tests, then
# the release artifacts installed as an admin installs them (tests/test_dist.py), then
# everything else inside Sentry 23.7.1 (Python 3.8), including the gateway's processes end to end.
test: bootstrap
	.venv-gateway/bin/python -m pytest tests/gateway -q $(PYTEST_ARGS)
	.venv-gateway/bin/python -m pytest $(TASK_TESTS) -q -n 2 --dist loadgroup $(PYTEST_ARGS)
	.venv-gateway/bin/python -m pytest tests/test_dist.py -q $(PYTEST_ARGS)
	.venv/bin/python -m pytest $(addprefix --ignore=,$(TASK_TESTS) tests/test_dist.py) $(PYTEST_ARGS)

lint: bootstrap
	shellcheck -x puppet/diagnostics/tasks/*.sh puppet/remediation/tasks/*.sh puppet/diagnostics/files/lib/*.sh scripts/*.sh .ci/run

bench: bootstrap
	.venv/bin/python -m pytest bench -q -s -p no:warnings

# Release artifacts in dist/: wheel, sdist, one Puppet module archive per module, SHA256SUMS.
dist:
	@scripts/dist.sh dist

services-stop:
	@scripts/services-stop.sh

demo:
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop
