"""Run a probe end to end: load models and texts, measure, plot, record in the catalog.

The measuring functions (hidden_pca, token_kl, rank_shift, transfer) take models and texts and
return figures; this module is the I/O edge a CLI verb or a notebook calls.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from curate.errors import BadInput, CurateError
from curate.probes import hidden_pca, rank_shift, token_kl, transfer
from curate.probes.models import check_same_tokenizer, load_model, load_tokenizer
from curate.probes.texts import by_task, load_texts

PROBES = ("ti", "kl", "pca-shift", "rank-shift")


def resolve_model(spec: str, catalog) -> str:
    """A local folder, a catalog checkpoint id, or a hub id (left as is)."""
    if Path(spec).exists():
        return str(Path(spec).resolve())
    rows = catalog.sql("SELECT path FROM checkpoints WHERE id = ? LIMIT 1", [spec])
    if rows:
        return rows[0]["path"]
    return spec


def eval_name(catalog, spec: str) -> str:
    """The name `curate eval` records a model under (absolute path for local folders)."""
    if Path(spec).exists():
        return str(Path(spec).resolve())
    rows = catalog.sql("SELECT path FROM checkpoints WHERE id = ? LIMIT 1", [spec])
    if rows and Path(rows[0]["path"]).exists():
        return str(Path(rows[0]["path"]).resolve())
    return spec


def probe_dir(catalog) -> Path:
    p = Path(catalog.home) / "probes"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _record(catalog, probe: str, model: str, base: str, texts: str | None, params: dict,
            results: dict, plot_path: str | None, run_id: str | None) -> str:
    return catalog.insert("probes", {
        "run_id": run_id, "probe": probe, "model": model, "base": base, "texts": texts,
        "params": params, "results": _jsonable(results), "plot_path": plot_path})


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_default))


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _groups_for(tasks) -> dict[str, str]:
    """Domain group of tasks that are registry benchmarks (math / other / non)."""
    try:
        from curate.corpora import benchmarks as reg
    except ImportError:
        return {}
    out = {}
    for t in tasks:
        try:
            info = reg.get_benchmark(t) if hasattr(reg, "get_benchmark") else None
        except Exception:  # not a registry name: no group
            info = None
        g = getattr(info, "group", None) or getattr(info, "domain", None)
        if g:
            out[t] = transfer.normalise_group(g) or g
    return out


def run_ti(catalog, model: str, base: str, formula: str = "icml", metric: str = "accuracy",
           ddof: int = 0, record: bool = True) -> dict[str, Any]:
    """TI from the catalog's evals; recorded in the probes table.

    `model` / `base` are names as recorded by `curate eval`: a local folder (matched by its
    absolute path), a checkpoint id, or the name given with ``--name``.
    """
    model, base = eval_name(catalog, model), eval_name(catalog, base)
    res = transfer.ti_from_catalog(catalog, model, base, formula=formula, metric=metric,
                                   ddof=ddof)
    res["table"] = transfer.ti_table(res)
    if record:
        res["probe_id"] = _record(catalog, "ti", model, base, None,
                                  {"formula": formula, "metric": metric, "ddof": ddof}, res,
                                  None, None)
    return res


def run_shift_probe(catalog, probe: str, model: str, base: str, texts: str, *,
                    limit: int | None = None, k: int = 100, seed: int = 42,
                    max_length: int = 128, pooling: str = "released", released: bool = True,
                    chat_template: bool = True, top: int = 20, device: str | None = None,
                    dtype: str | None = None, batch_size: int = 8, plot: bool = True,
                    progress: bool = True) -> dict[str, Any]:
    """kl / pca-shift / rank-shift of `model` against `base` on the texts of SOURCE `texts`."""
    if probe not in ("kl", "pca-shift", "rank-shift"):
        raise BadInput(f"unknown probe {probe!r} ({', '.join(PROBES)})")
    if pooling not in hidden_pca.POOLINGS:
        raise BadInput(f"unknown pooling {pooling!r} ({', '.join(hidden_pca.POOLINGS)})")
    for name, val, low in (("--k", k, 2), ("--max-length", max_length, 1),
                           ("--batch-size", batch_size, 1), ("--limit", limit, 1),
                           ("--top", top, 1)):
        if val is not None and val < low:
            raise BadInput(f"{name} must be at least {low}")
    model_path, base_path = resolve_model(model, catalog), resolve_model(base, catalog)
    rows = load_texts(texts, catalog, need_response=probe != "pca-shift")
    tok_base = load_tokenizer(base_path)
    if probe in ("kl", "rank-shift"):
        check_same_tokenizer(load_tokenizer(model_path), tok_base, f"model {model!r}",
                             f"base {base!r}")
    run_id = catalog.start_run("probe", config={"probe": probe, "model": model, "base": base,
                                                "texts": texts}, inputs=[texts], name=probe)
    try:
        m = load_model(model_path, device, dtype)
        b = load_model(base_path, device, dtype)
        n_emb = m.get_input_embeddings().num_embeddings
        if probe == "pca-shift" and n_emb < len(tok_base):
            raise CurateError(f"model {model!r} has {n_emb} token embeddings but the base "
                              f"tokenizer has {len(tok_base)} tokens: PCA shift feeds both "
                              "models the base's tokens, so they must share a vocabulary")
        out_png = probe_dir(catalog) / f"{probe}-{uuid.uuid4().hex[:10]}.png"
        title = f"{probe}: {Path(model).name} vs {Path(base).name}"
        if probe == "pca-shift":
            grouped = {t: [x.text for x in xs] for t, xs in by_task(rows).items()}
            params = {"k": k, "seed": seed, "max_length": max_length, "pooling": pooling}
            res = hidden_pca.pca_shift_probe(m, b, tok_base, grouped, k=k, seed=seed,
                                             max_length=max_length, batch_size=batch_size,
                                             pooling=pooling, groups=_groups_for(grouped),
                                             progress=progress)
            plot_path = hidden_pca.plot_pca_shift(res, out_png, title) if plot else None
        elif probe == "kl":
            lim = 100 if limit is None else limit
            params = {"limit": lim, "released": released, "chat_template": chat_template}
            res = token_kl.token_kl_probe(m, b, tok_base, rows, limit=lim,
                                          chat_template=chat_template, released=released,
                                          progress=progress)
            plot_path = token_kl.plot_kl(res, out_png, title) if plot else None
        else:
            lim = 100 if limit is None else limit
            params = {"limit": lim, "released": released, "chat_template": chat_template,
                      "top": top}
            res, samples = rank_shift.rank_shift_probe(m, b, tok_base, rows, limit=lim,
                                                       chat_template=chat_template,
                                                       released=released, top=top,
                                                       progress=progress)
            plot_path = rank_shift.plot_rank_shift(res, samples, out_png, title) if plot else None
        res["probe_id"] = _record(catalog, probe, model, base, texts, params, res, plot_path,
                                  run_id)
        res["plot_path"] = plot_path
        catalog.finish_run(run_id, "ok", outputs=[res["probe_id"]], metrics=summary(probe, res))
        return res
    except BaseException as e:
        catalog.finish_run(run_id, "failed", error=str(e).splitlines()[0] if str(e) else repr(e))
        raise


def summary(probe: str, res: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a probe result (for tables and the runs table)."""
    if probe == "ti":
        return {f"TI_{g}": v for g, v in res["ti"].items()} | {"reason": res.get("reason")}
    if probe == "pca-shift":
        return {f"d[{t}]": v for t, v in res["d"].items()} | {
            f"d[group {g}]": v for g, v in res["groups"].items()}
    if probe == "kl":
        o = res["overall"]
        return {k: o.get(k) for k in ("kl_released", "kl_full", "n_samples", "n_tokens")}
    o = res["overall"]
    return {k: o.get(k) for k in ("mean_rank_shift", "mean_abs_rank_shift", "shifted_fraction",
                                  "n_tokens")}
