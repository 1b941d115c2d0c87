"""Adding a candidate: ``routing-harness candidate`` / ``make candidate`` takes a new model to a pool
member (issue 25; docs/candidates.md).

``settings`` (what is asked, checked before anything runs), ``lmeval_tasks`` (lm-eval's own task
configs on the cache's items), ``generate_lmeval`` (GSM8K, MATH, HumanEval, MBPP through
lm-evaluation-harness: its ``hf`` backend for local weights, ``local-completions`` /
``local-chat-completions`` for a served model), ``chat_prompts`` and ``generate_chat`` (AlpacaEval,
Arena-Hard, MT-Bench answers from an OpenAI-compatible endpoint with the benchmarks' own prompts;
FastChat's conversation templates for MT-Bench), ``judge_chat`` (the judge client, then the tools'
own output formats), ``pipeline`` (the command: generate, grade or judge, import, record).

Top layer, beside the CLI and the API: may import everything below; only the CLI imports it.
"""
