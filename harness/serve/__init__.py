"""Serving a router: ``routing-harness serve``, an OpenAI-compatible routing server.

A router evaluated here (built-in or plug-in) is fitted on the items you name, or taken from a run's
fold cache (``loading``), and answers ``POST /v1/chat/completions`` (``app``): it scores the last user
message off the event loop, micro-batched (``batching``), optionally trading score against a
per-candidate price (willingness to pay, λ), and forwards the request to the chosen candidate's
upstream OpenAI-compatible endpoint (``upstream``). The config file names the upstreams (``settings``);
``server`` runs it under uvicorn; ``fake_upstream`` is a stand-in candidate for tests, the bench and a
dry run. Format and figures: docs/serving.md.

Top layer, beside the CLI and the API: may import everything below (core, grading, cost, report,
experiments); nothing in ``harness`` imports it but the CLI.
"""
