"""The comparison of an experiment's arms, as data: what its dashboard page draws.

`comparison(catalog, name)` reads the catalog rows the experiment tagged (evals, TI and probe
rows carry `tags.experiment`, `tags.arm` and the eval key) and returns plain series and
tables, each with the SQL that selects its rows and their ids, so any figure on the page can be
traced back by hand:

- ``series``: per arm and benchmark group (math / other / non) and per arm and benchmark: step,
  score (percent, the group's mean over its benchmarks) and mean response tokens, the base as
  step 0 of every arm, plus the dip-and-recovery summary (P3's dip: first -> lowest -> last);
- ``ti``: per arm and checkpoint step, TI_other / TI_non for each formula (None with the
  reason when undefined);
- ``probes``: per arm, the KL / PCA-shift / rank-shift headline figures of its final model
  and the plot file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from curate.errors import NotFound

GROUP_ORDER = ("math", "other", "non")

EVALS_SQL = ("SELECT id, model, step, benchmark, domain, value, mean_response_tokens, "
             "checkpoint_id, json_extract_string(config, '$.tags.arm') AS arm, created "
             "FROM evals WHERE metric = 'accuracy' "
             "AND json_extract_string(config, '$.tags.experiment') = ? "
             "AND json_extract_string(config, '$.tags.eval_key') = ? ORDER BY created")
TI_SQL = ("SELECT id, checkpoint_id, params, results, created FROM probes WHERE probe = 'ti' "
          "AND json_extract_string(params, '$.tags.experiment') = ? "
          "AND json_extract_string(params, '$.tags.eval_key') = ? ORDER BY created")
PROBES_SQL = ("SELECT id, probe, model, base, checkpoint_id, texts, params, results, plot_path, "
              "created FROM probes WHERE probe IN ('kl', 'pca-shift', 'rank-shift') "
              "AND json_extract_string(params, '$.tags.experiment') = ? ORDER BY created")


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else (v or {})


def experiments(catalog) -> list[dict[str, Any]]:
    """Every experiment name with its newest run (id, status, started, arms), newest first."""
    rows = catalog.sql("SELECT id, name, status, started, finished, config, metrics FROM runs "
                       "WHERE kind = 'experiment' ORDER BY started DESC")
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["name"] in seen:
            seen[r["name"]]["runs"] += 1
            continue
        cfg = _json(r["config"])
        seen[r["name"]] = {"name": r["name"], "run_id": r["id"], "status": r["status"],
                           "started": r["started"], "finished": r["finished"],
                           "arms": cfg.get("arms_run") or [], "file": cfg.get("file"),
                           "description": cfg.get("description"), "runs": 1}
    return list(seen.values())


def _eval_key(catalog, name: str) -> tuple[str | None, dict[str, Any] | None]:
    """The eval key and config of the newest run of `name` that recorded one."""
    rows = catalog.sql("SELECT id, status, config, metrics FROM runs WHERE kind = 'experiment' "
                       "AND name = ? ORDER BY started DESC", [name])
    if not rows:
        raise NotFound(f"no experiment {name!r} in the catalog (run it: curate run "
                       "experiments/NAME.yaml)")
    for r in rows:
        key = _json(r["metrics"]).get("eval_key")
        if key:
            return key, {"id": r["id"], "status": r["status"], **_json(r["config"])}
    last = catalog.sql("SELECT json_extract_string(config, '$.tags.eval_key') AS k FROM evals "
                       "WHERE json_extract_string(config, '$.tags.experiment') = ? "
                       "ORDER BY created DESC LIMIT 1", [name])
    cfg = {"id": rows[0]["id"], "status": rows[0]["status"], **_json(rows[0]["config"])}
    return (last[0]["k"] if last else None), cfg


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _series(evals: list[dict[str, Any]], arms: list[str]) -> tuple[list, list]:
    """(per arm x group, per arm x benchmark) series; the base is step 0 of every arm."""
    from curate.probes.evaluation import dip_summary

    newest: dict[tuple, dict[str, Any]] = {}
    for e in evals:  # oldest first: the newest score of (arm, step, benchmark) wins
        newest[(e["arm"], e["step"], e["benchmark"])] = e
    base = {b: e for (a, _, b), e in newest.items() if a == "base"}
    by_bench, by_group = [], []
    for arm in arms:
        rows = [e for (a, _, _), e in newest.items() if a == arm]
        points: dict[str, dict[int, dict]] = defaultdict(dict)
        for b, e in base.items():
            points[b][0] = e
        for e in rows:
            points[e["benchmark"]][e["step"]] = e
        groups: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        for bench in sorted(points):
            steps = sorted(points[bench])
            es = [points[bench][s] for s in steps]
            score = [None if e["value"] is None else 100.0 * e["value"] for e in es]
            tokens = [e["mean_response_tokens"] for e in es]
            group = es[-1]["domain"]
            by_bench.append({"arm": arm, "benchmark": bench, "group": group, "steps": steps,
                             "score": score, "tokens": tokens,
                             "ids": [e["id"] for e in es]})
            for s, e in zip(steps, es):
                groups[group][s].append(e)
        for group in sorted(groups, key=lambda g: (GROUP_ORDER.index(g)
                                                   if g in GROUP_ORDER else 9, g)):
            steps = sorted(groups[group])
            score = [_mean([None if e["value"] is None else 100.0 * e["value"]
                            for e in groups[group][s]]) for s in steps]
            tokens = [_mean([e["mean_response_tokens"] for e in groups[group][s]])
                      for s in steps]
            by_group.append({"arm": arm, "group": group, "steps": steps, "score": score,
                             "tokens": tokens,
                             "benchmarks": sorted({e["benchmark"] for s in steps
                                                   for e in groups[group][s]}),
                             "ids": [e["id"] for s in steps for e in groups[group][s]],
                             "dip": dip_summary(steps, score, tokens)})
    return by_group, by_bench


def _ti(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    newest: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        params, res = _json(r["params"]), _json(r["results"])
        tags = params.get("tags") or {}
        key = (tags.get("arm"), tags.get("step"), params.get("formula"))
        newest[key] = {"arm": tags.get("arm"), "step": tags.get("step"),
                       "formula": params.get("formula"),
                       "TI_other": (res.get("ti") or {}).get("other"),
                       "TI_non": (res.get("ti") or {}).get("non"),
                       "reason": res.get("reason"), "warnings": res.get("warnings") or [],
                       "checkpoint_id": r["checkpoint_id"], "probe_id": r["id"]}
    return sorted(newest.values(), key=lambda t: (str(t["arm"]), t["step"] or 0,
                                                   str(t["formula"])))


def _probes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from curate.probes.runner import summary

    newest: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        params, res = _json(r["params"]), _json(r["results"])
        tags = params.get("tags") or {}
        try:
            figures = summary(r["probe"], res)
        except (KeyError, TypeError, AttributeError):
            figures = {}
        newest[(tags.get("arm"), r["probe"])] = {
            "arm": tags.get("arm"), "probe": r["probe"], "figures": figures,
            "texts": r["texts"], "plot_path": r["plot_path"], "probe_id": r["id"],
            "checkpoint_id": r["checkpoint_id"], "model": r["model"],
            "attn_implementation": params.get("attn_implementation"),
            "versions": params.get("versions")}
    return sorted(newest.values(), key=lambda p: (p["probe"], str(p["arm"])))


def comparison(catalog, name: str) -> dict[str, Any]:
    """The experiment's series, TI table and probe figures, with the SQL and ids behind them.

    Returns {experiment, run, eval_key, suite, arms, groups, benchmarks, series {by_group,
    by_benchmark}, ti, probes, sql {evals, ti, probes: {query, params}}}; scores in percent.
    Raises `NotFound` when no experiment of that name was run in this catalog.

    Example:
        >>> c = comparison(Catalog(), "data-structure")
        >>> [(s["arm"], s["group"], s["steps"]) for s in c["series"]["by_group"]][:1]
        [('countdown-cot', 'math', [0, 4, 8, 16, 24, 29])]
        >>> Catalog().sql(c["sql"]["evals"]["query"], c["sql"]["evals"]["params"])  # its rows
    """
    key, run = _eval_key(catalog, name)
    evals = catalog.sql(EVALS_SQL, [name, key]) if key else []
    arms = [a for a in (run.get("arms_run") or []) if a]
    arms += sorted({e["arm"] for e in evals if e["arm"] not in arms and e["arm"] != "base"})
    by_group, by_bench = _series(evals, arms)
    ti_rows = catalog.sql(TI_SQL, [name, key]) if key else []
    probe_rows = catalog.sql(PROBES_SQL, [name])
    groups = [g for g in GROUP_ORDER if any(s["group"] == g for s in by_group)]
    groups += sorted({s["group"] for s in by_group} - set(groups))
    return {
        "experiment": name, "run": {k: run.get(k) for k in ("id", "status", "file",
                                                            "description", "base")},
        "eval_key": key, "suite": (run.get("eval") or {}).get("suite"), "arms": arms,
        "groups": groups, "benchmarks": sorted({s["benchmark"] for s in by_bench}),
        "series": {"by_group": by_group, "by_benchmark": by_bench},
        "ti": _ti(ti_rows), "probes": _probes(probe_rows),
        "sql": {"evals": {"query": EVALS_SQL, "params": [name, key]},
                "ti": {"query": TI_SQL, "params": [name, key]},
                "probes": {"query": PROBES_SQL, "params": [name]}},
    }
