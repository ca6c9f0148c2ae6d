"""The Transferability Index (TI) of arXiv 2507.00432, both published formulas.

Did math training transfer? TI compares a model's gain over its own base on the other
groups (other reasoning, non-reasoning) with its gain on math. Two formulas were published:

- ``v1`` (arXiv v1/v2): mean relative gain per group, ``TI_g = ΔR_g / ΔR_math × 100`` with
  ``ΔR_g = mean_b (R_model,b − R_base,b) / R_base,b``.
- ``icml`` (ICML 2026): absolute gains z-normalised by the group's std, signed square root,
  weighted by headroom ``100 − R_base``: ``TI_g = DI_g / DI_math × 100``.

Scores are in percent (0–100) as in the paper. Edge cases the paper leaves open are guarded
and reported in ``warnings`` instead of producing NaN or infinities: a zero base score (v1's
relative gain is undefined: the benchmark is left out), a zero std (falls back to the pooled
std over all groups, then to 1), missing benchmarks (only those scored for both models are
used), no math gain (TI is undefined: ``ti`` values are None with a ``reason``), and a math
gain that is mostly cancellation: when ``|DI_math|`` (or v1's ``ΔR_math``) is below
``min_math_share`` of the math benchmarks' mean magnitude (``Σ ŵ_b |s_b|``, or
``mean_b |ΔR_b / R_b|``) the ratio only measures noise (DI_math = 2.5e-4 once gave
TI_other = 443,980 %), so TI is undefined too; the unguarded values stay in ``ti_unguarded``.

Scores come from the catalog's ``evals`` (fractions, as ``curate eval`` writes them) or from a
user's own table (`scores_from_file`) whose scale, percent or fraction, is stated, never
guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from curate.errors import BadInput, NotFound

GROUPS = ("math", "other", "non")
FORMULAS = ("v1", "icml")
SCALES = ("percent", "fraction")
EPS = 1e-9
MIN_MATH_SHARE = 0.1

# How other areas may spell the domain groups.
_GROUP_ALIASES = {
    "math": "math", "mathematics": "math", "in-domain": "math",
    "other": "other", "other reasoning": "other", "other_reasoning": "other",
    "other-reasoning": "other", "reasoning": "other", "ood": "other", "ood reasoning": "other",
    "non": "non", "non-reasoning": "non", "non_reasoning": "non", "nonreasoning": "non",
    "non reasoning": "non", "general": "non",
}


def normalise_group(group: str | None) -> str | None:
    """Map a domain label (``math``, ``other reasoning``, ``non-reasoning``...) to math/other/non."""
    if group is None:
        return None
    return _GROUP_ALIASES.get(str(group).strip().lower())


def scores_from_rows(rows: Iterable[Mapping[str, Any]], model: str,
                     ) -> dict[str, tuple[str, float]]:
    """{benchmark: (group, value)} of one model from eval rows (model, benchmark, group, value).

    Later rows win, so rows ordered by creation time give the newest score.
    """
    out: dict[str, tuple[str, float]] = {}
    for i, r in enumerate(rows):
        if r.get("model") != model:
            continue
        bench = r.get("benchmark")
        raw_group = r.get("group", r.get("domain"))
        group = normalise_group(raw_group)
        if not bench:
            raise BadInput("eval row without a benchmark", row=i, field="benchmark")
        if group is None:
            raise BadInput(f"benchmark {bench!r}: unknown group {raw_group!r} "
                           f"(expected one of {', '.join(GROUPS)})", row=i, field="group")
        value = r.get("value")
        if value is None or not math.isfinite(float(value)):
            continue  # a missing score is a missing benchmark, not a zero
        out[str(bench)] = (group, float(value))
    return out


def transferability_index(rows: Iterable[Mapping[str, Any]], model: str, base: str,
                          formula: str = "icml", ddof: int = 0,
                          groups: Iterable[str] = ("other", "non"),
                          min_math_share: float = MIN_MATH_SHARE) -> dict[str, Any]:
    """TI of `model` against `base` from eval rows with keys model, benchmark, group, value.

    `ddof` is the std convention of the ICML formula (0 = population; the paper does not say).
    Returns per-benchmark terms, per-group aggregates, ``ti`` {group: percent or None},
    ``warnings`` and ``reason`` (why TI is undefined, else None).
    """
    rows = list(rows)
    if formula not in FORMULAS:
        raise BadInput(f"unknown TI formula {formula!r} (expected {' or '.join(FORMULAS)})")
    m_scores = scores_from_rows(rows, model)
    b_scores = scores_from_rows(rows, base)
    if not m_scores:
        raise NotFound(f"no eval scores for model {model!r}")
    if not b_scores:
        raise NotFound(f"no eval scores for base {base!r}")
    return compute_ti(m_scores, b_scores, formula=formula, ddof=ddof, groups=groups,
                      model=model, base=base, min_math_share=min_math_share)


def compute_ti(model_scores: Mapping[str, tuple[str, float]],
               base_scores: Mapping[str, tuple[str, float]], formula: str = "icml",
               ddof: int = 0, groups: Iterable[str] = ("other", "non"),
               model: str | None = None, base: str | None = None,
               min_math_share: float = MIN_MATH_SHARE) -> dict[str, Any]:
    """TI from {benchmark: (group, percent score)} of the model and of its base.

    `min_math_share` (0 turns the guard off) is the least |math gain| relative to the math
    benchmarks' mean magnitude for which TI is defined (see the module docstring).
    """
    if formula not in FORMULAS:
        raise BadInput(f"unknown TI formula {formula!r} (expected {' or '.join(FORMULAS)})")
    if not 0 <= min_math_share <= 1:
        raise BadInput("--min-math-share must be in [0, 1]")
    targets = [g for g in (normalise_group(g) for g in groups) if g and g != "math"]
    warnings: list[str] = []
    for name, scores in (("model", model_scores), ("base", base_scores)):
        for b, (_, v) in scores.items():
            if v < 0 or v > 100:
                raise BadInput(f"{name} score {v} on {b!r} is outside 0–100: TI expects percent")
    only_m = sorted(set(model_scores) - set(base_scores))
    only_b = sorted(set(base_scores) - set(model_scores))
    if only_m:
        warnings.append(f"left out (no base score): {', '.join(only_m)}")
    if only_b:
        warnings.append(f"left out (no model score): {', '.join(only_b)}")
    per_bench: list[dict[str, Any]] = []
    for b in sorted(set(model_scores) & set(base_scores)):
        g_m, r_m = model_scores[b]
        g_b, r_b = base_scores[b]
        if g_m != g_b:
            raise BadInput(f"benchmark {b!r} is in group {g_m!r} for the model and {g_b!r} "
                           "for the base")
        per_bench.append({"benchmark": b, "group": g_m, "base": r_b, "model": r_m,
                          "delta": r_m - r_b})

    fn = _v1 if formula == "v1" else _icml
    group_stats = fn(per_bench, warnings, ddof) if formula == "icml" else fn(per_bench, warnings)
    key = "delta_rel" if formula == "v1" else "di"
    result: dict[str, Any] = {
        "formula": formula, "model": model, "base": base, "ddof": ddof if formula == "icml" else None,
        "benchmarks": per_bench, "groups": group_stats, "ti": {g: None for g in targets},
        "ti_unguarded": {g: None for g in targets}, "min_math_share": min_math_share,
        "warnings": warnings, "reason": None,
    }
    math_val = group_stats.get("math", {}).get(key)
    if math_val is None:
        zero = [r["benchmark"] for r in per_bench if r["group"] == "math"]
        result["reason"] = (
            f"every math benchmark ({', '.join(zero)}) has a base score of 0, so v1's relative "
            "gain ΔR/R_base is undefined for each and TI (v1) is undefined (the icml formula "
            "takes absolute gains)" if zero else
            "no math benchmarks scored for both model and base: TI is undefined")
        return result
    what = "ΔR_math" if formula == "v1" else "DI_math"
    if math_val <= EPS:
        result["reason"] = (f"no math gain ({what} = {math_val:.4g} ≤ 0): TI measures transfer "
                            "of a math gain and is undefined here")
        return result
    for g in targets:
        val = group_stats.get(g, {}).get(key)
        if val is None:
            warnings.append(f"no benchmarks in group {g!r}: TI_{g} is undefined")
            continue
        result["ti_unguarded"][g] = val / math_val * 100.0
    magnitude = group_stats["math"].get("magnitude") or 0.0
    share = math_val / magnitude if magnitude > EPS else 1.0
    group_stats["math"]["share"] = share
    if share < min_math_share:
        result["reason"] = (f"{what} = {math_val:.3g} is {100 * share:.2g}% of the math "
                            f"benchmarks' mean magnitude {magnitude:.3g} (below "
                            f"--min-math-share {min_math_share:g}): the math gain is mostly "
                            "cancellation between benchmarks, so TI would measure noise and is "
                            "undefined (the unguarded values are in ti_unguarded)")
        return result
    result["ti"] = dict(result["ti_unguarded"])
    return result


def _v1(per_bench: list[dict[str, Any]], warnings: list[str]) -> dict[str, dict[str, Any]]:
    """Mean relative gain per group; benchmarks with a zero base score are left out."""
    out: dict[str, dict[str, Any]] = {}
    for row in per_bench:
        if abs(row["base"]) <= EPS:
            row["delta_rel"] = None
            warnings.append(f"{row['benchmark']}: base score is 0, relative gain undefined "
                            "(left out of v1)")
            continue
        row["delta_rel"] = row["delta"] / row["base"]
    for g in GROUPS:
        vals = [r["delta_rel"] for r in per_bench if r["group"] == g and r["delta_rel"] is not None]
        n_all = sum(1 for r in per_bench if r["group"] == g)
        if n_all == 0:
            continue
        out[g] = {"n": len(vals), "delta_rel": (sum(vals) / len(vals)) if vals else None,
                  "magnitude": (sum(abs(v) for v in vals) / len(vals)) if vals else None,
                  "base_avg": _mean([r["base"] for r in per_bench if r["group"] == g]),
                  "model_avg": _mean([r["model"] for r in per_bench if r["group"] == g])}
    return out


def _std(xs: list[float], ddof: int) -> float | None:
    if len(xs) - ddof <= 0:
        return None
    mu = sum(xs) / len(xs)
    return math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - ddof))


def _icml(per_bench: list[dict[str, Any]], warnings: list[str], ddof: int,
          ) -> dict[str, dict[str, Any]]:
    """z-normalised, signed-sqrt, headroom-weighted gain DI per group."""
    out: dict[str, dict[str, Any]] = {}
    all_deltas = [r["delta"] for r in per_bench]
    pooled = _std(all_deltas, ddof)
    for g in GROUPS:
        rows = [r for r in per_bench if r["group"] == g]
        if not rows:
            continue
        sigma = _std([r["delta"] for r in rows], ddof)
        sigma_src = "group"
        if sigma is None or sigma <= EPS:
            if pooled is not None and pooled > EPS:
                sigma, sigma_src = pooled, "pooled"
            else:
                sigma, sigma_src = 1.0, "unit"
            warnings.append(f"σ_{g} is 0 or undefined ({len(rows)} benchmark(s) or identical "
                            f"gains): using the {'pooled std over all groups' if sigma_src == 'pooled' else 'unit scale'} "
                            f"(σ = {sigma:.4g})")
        weights = [100.0 - r["base"] for r in rows]
        total = sum(weights)
        if total <= EPS:
            weights = [1.0] * len(rows)
            total = float(len(rows))
            warnings.append(f"group {g!r}: every base score is 100, equal weights used")
        di = magnitude = 0.0
        for r, w in zip(rows, weights):
            z = r["delta"] / sigma
            s = math.copysign(math.sqrt(abs(z)), z) if z != 0 else 0.0
            r["z"], r["s"], r["weight"] = z, s, w / total
            di += r["weight"] * s
            magnitude += r["weight"] * abs(s)
        out[g] = {"n": len(rows), "sigma": sigma, "sigma_source": sigma_src, "di": di,
                  "magnitude": magnitude,
                  "base_avg": _mean([r["base"] for r in rows]),
                  "model_avg": _mean([r["model"] for r in rows])}
    return out


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def ti_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per group (math, other, non) for printing and the report: no NaN, None = n/a."""
    key = "delta_rel" if result["formula"] == "v1" else "di"
    rows = []
    for g, st in result["groups"].items():
        rows.append({"group": g, "benchmarks": st["n"], "base_avg": _round(st["base_avg"]),
                     "model_avg": _round(st["model_avg"]), key: _round(st.get(key), 4),
                     "TI(%)": _round(result["ti"].get(g)) if g != "math" else None})
    return rows


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)


def direction(benchmark: str, config: Any = None) -> tuple[bool, str]:
    """(higher_is_better, scale) of a benchmark's `accuracy` row: from the row's config as
    `curate eval` records it, else from the benchmark registry, else (True, fraction)."""
    import json

    cfg = config
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except ValueError:
            cfg = None
    if isinstance(cfg, dict) and "higher_is_better" in cfg:
        return bool(cfg["higher_is_better"]), str(cfg.get("scale") or "fraction")
    try:
        from curate.corpora.benchmarks import get_benchmark

        b = get_benchmark(benchmark)
        return b.higher_is_better, b.scale
    except Exception:  # noqa: BLE001 - not a registry benchmark (a local suite's file)
        return True, "fraction"


def ti_value(benchmark: str, value: float, config: Any = None,
             notes: list[str] | None = None) -> float | None:
    """A stored score (a fraction) as TI's percent, higher better: a lower-is-better score
    (HEx-PHI's attack success rate) enters as 100 − ASR (the safe rate), so a gain is a drop in
    ASR; an unbounded one (AlpacaEval's mean reward) is left out (None), with a note."""
    hib, scale = direction(benchmark, config)
    if scale != "fraction":
        note = f"{benchmark}: left out ({scale} score, not on a 0-100 scale)"
        if notes is not None and note not in notes:
            notes.append(note)
        return None
    if not hib:
        if notes is not None:
            note = f"{benchmark}: lower is better; used as 100 - score"
            if note not in notes:
                notes.append(note)
        return 100.0 * (1.0 - value)
    return 100.0 * value


def eval_rows_from_catalog(catalog, models: Iterable[str], metric: str = "accuracy",
                           notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Eval rows (model, benchmark, group, value in percent) of `models` from the evals table.

    The evals table holds fractions in [0, 1] (as `curate eval` writes them), scaled to
    percent here; a value outside [0, 1] is an error naming the row, never a guess at its
    scale. A lower-is-better benchmark enters as 100 − score and an unbounded one (a reward)
    is left out (`ti_value`; `notes` says so). Rows are ordered by creation so the newest
    score of a (model, benchmark) wins.
    """
    models = list(models)
    if not models:
        return []
    marks = ", ".join("?" * len(models))
    rows = catalog.sql(f"SELECT id, model, benchmark, domain, value, config FROM evals "
                       f"WHERE metric = ? AND model IN ({marks}) ORDER BY created",
                       [metric, *models])
    out = []
    for r in rows:
        if r["value"] is None:
            continue
        v = float(r["value"])
        if direction(r["benchmark"], r.get("config"))[1] != "fraction":
            ti_value(r["benchmark"], v, r.get("config"), notes)
            continue
        if not 0.0 <= v <= 1.0:
            raise BadInput(f"evals row {r['id']} ({r['model']} on {r['benchmark']}): {metric} "
                           f"{v} is outside [0, 1]; the evals table holds fractions (give a "
                           "percent table with `curate probe ti --scores FILE --scale percent`)")
        out.append({"model": r["model"], "benchmark": r["benchmark"], "group": r["domain"],
                    "value": ti_value(r["benchmark"], v, r.get("config"), notes)})
    return out


SCORE_FIELDS = ("score", "value", "accuracy")


def scores_from_file(path: str, scale: str | None) -> list[dict[str, Any]]:
    """A user's score table (CSV / JSONL / JSON / Parquet with model, benchmark, group and
    score | value | accuracy per row) as eval rows in percent.

    `scale` must be given: ``percent`` (0–100) or ``fraction`` (0–1); a value outside it is an
    error naming the row, so a weak model's 0.8 % is never read as 80 %. A second row for the
    same model and benchmark is an error naming both rows (which score would TI use?).
    """
    from curate.formats.rows import file_rows

    if scale not in SCALES:
        raise BadInput(f"--scale must be {' or '.join(SCALES)}: a score table's scale is "
                       "stated, not guessed")
    top = 100.0 if scale == "percent" else 1.0
    out = []
    seen: dict[tuple[str, str], int] = {}
    for line, row, err in file_rows(path):
        if err:
            raise BadInput(err, file=path, row=line)
        if not isinstance(row, dict):
            raise BadInput("each row must be an object", file=path, row=line)
        for f in ("model", "benchmark"):
            if row.get(f) in (None, ""):
                raise BadInput(f"missing {f}", file=path, row=line, field=f)
        fld = next((f for f in SCORE_FIELDS if row.get(f) not in (None, "")), None)
        if fld is None:
            raise BadInput("missing score (score, value or accuracy)", file=path, row=line,
                           field="score")
        try:
            v = float(row[fld])
        except (TypeError, ValueError):
            raise BadInput(f"score {row[fld]!r} is not a number", file=path, row=line,
                           field=fld) from None
        if not math.isfinite(v) or not 0.0 <= v <= top:
            raise BadInput(f"score {v} is outside 0–{top:g} ({scale})", file=path, row=line,
                           field=fld)
        group = row.get("group", row.get("domain"))
        if normalise_group(group) is None:
            raise BadInput(f"unknown group {group!r} (math, other, non)", file=path, row=line,
                           field="group")
        key = (str(row["model"]), str(row["benchmark"]))
        if key in seen:
            raise BadInput(f"a second score for model {key[0]!r} on {key[1]!r} (the first is on "
                           f"row {seen[key]}): a score table holds one score per model and "
                           "benchmark", file=path, row=line, field=fld)
        seen[key] = line
        out.append({"model": key[0], "benchmark": key[1], "group": group,
                    "value": v * (100.0 / top)})
    if not out:
        raise BadInput("no scores", file=path)
    return out


def scale_warnings(rows: list[dict[str, Any]], scale: str | None) -> list[str]:
    """A warning when a table stated as percent holds only scores of at most 1 for a model:
    fractions given the wrong --scale would shrink every gain 100 times (a weak model's real
    percent scores can be that low too, so this is a warning, never a refusal)."""
    if scale != "percent":
        return []
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        vals = [r["value"] for r in rows if r["model"] == model]
        if vals and max(vals) <= 1.0 and any(v > 0 for v in vals):
            out.append(f"every score of {model!r} is at most 1 with --scale percent: if the "
                       "table holds fractions, pass --scale fraction")
    return out


def ti_from_catalog(catalog, model: str, base: str, formula: str = "icml",
                    metric: str = "accuracy", ddof: int = 0,
                    min_math_share: float = MIN_MATH_SHARE) -> dict[str, Any]:
    """TI of `model` vs `base` from the catalog's evals (the newest score per benchmark)."""
    notes: list[str] = []
    rows = eval_rows_from_catalog(catalog, [model, base], metric=metric, notes=notes)
    known = {r["model"] for r in rows}
    for name, role in ((model, "model"), (base, "base")):
        if name not in known:
            raise NotFound(f"no '{metric}' evals for {role} {name!r} in the catalog: run "
                           f"`curate eval {name} --suite ...` first")
    res = transferability_index(rows, model, base, formula=formula, ddof=ddof,
                                min_math_share=min_math_share)
    res["warnings"] = notes + list(res.get("warnings") or [])
    return res
