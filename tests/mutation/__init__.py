"""Mutation testing of the suite: realistic one-line faults (``mutants.py``) applied one at a time to
a temporary copy of the checkout, each running only the tests listed for it (``run.py``). See the
"Mutation testing" section of tests/README.md."""
