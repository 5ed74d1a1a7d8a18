# Sourced by sample::helper from its install dir (test helper file).
greet() { echo "hello from a staged file"; }
