"""A local stand-in for the Puppet Enterprise orchestrator: same HTTP API, real tasks.

PE is commercial and cannot run in CI; this package speaks the documented orchestrator
API v1 (and the PuppetDB query endpoint PE serves beside it) over HTTPS closely enough
that a client passing against it passes against PE, and it really executes tasks from a
modules directory. It is a test double, not a product code path. Used by the tests, the
benchmarks and the demo. Plain Python: no Sentry imports.
"""
