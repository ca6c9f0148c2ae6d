"""Recipe step: `generate` for task countdown (the search teacher)."""

from __future__ import annotations

from curate.curation.steps import step
from curate.errors import BadInput

_KNOWN = {"task", "teacher", "n", "numbers", "seed", "split", "workers", "strategy", "heuristic",
          "beam_width", "style", "optimal_only", "answer_tag", "semantics", "max_nodes", "max_target",
          "max_number", "min_target", "min_number"}


@step("generate", task="countdown")
def countdown_generate_step(catalog, inputs: list[str], params: dict, output: str):
    """Countdown-CoT traces from the search teacher; takes no input dataset."""
    from curate.corpora.countdown import CountdownConfig
    from curate.curation.countdown_generate import generate_countdown

    unknown = set(params) - _KNOWN
    if unknown:
        raise BadInput(f"step 'generate' (countdown): unknown parameter(s) {sorted(unknown)}")
    if params.get("teacher", "search") != "search":
        raise BadInput("countdown generation uses teacher: search")
    p = dict(params)
    cfg_keys = ("numbers", "max_target", "max_number", "min_target", "min_number", "semantics")
    cfg = CountdownConfig(**{k: p[k] for k in cfg_keys if k in p})
    search = {k: p[k] for k in ("strategy", "heuristic", "beam_width", "style", "optimal_only",
                                "answer_tag", "semantics", "max_nodes") if k in p}
    return generate_countdown(catalog, output, int(p.get("n", 1000)), numbers=cfg.numbers,
                              seed=int(p.get("seed", 0)), split=p.get("split", "train"),
                              workers=p.get("workers"), cfg=cfg, **search)
