"""Compatibility of lm-evaluation-harness 0.4.13 with transformers 5.

lm-eval's CoQA task (`lm_eval/tasks/coqa/utils.py`, also xquad, scrolls) imports
`transformers.data.metrics.squad_metrics`, which transformers 5 removed. When that import
fails, `install()` registers a module of that name holding the SQuAD v2.0 official evaluation
functions the old module held (`normalize_answer`, `get_tokens`, `compute_exact`,
`compute_f1`: lower-case, drop punctuation and the articles a/an/the, collapse whitespace; F1
over the bags of tokens). With transformers 4 nothing is replaced.
"""

from __future__ import annotations

import collections
import re
import string
import sys
import types

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> list[str]:
    return normalize_answer(s).split() if s else []


def compute_exact(a_gold: str, a_pred: str) -> int:
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    gold, pred = get_tokens(a_gold), get_tokens(a_pred)
    common = collections.Counter(gold) & collections.Counter(pred)
    same = sum(common.values())
    if not gold or not pred:
        return int(gold == pred)
    if same == 0:
        return 0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def install() -> bool:
    """Register the module if transformers lacks it; True when it did."""
    try:
        import transformers.data.metrics.squad_metrics  # noqa: F401
        return False
    except ImportError:
        pass
    mod = types.ModuleType("transformers.data.metrics.squad_metrics")
    for fn in (normalize_answer, get_tokens, compute_exact, compute_f1):
        setattr(mod, fn.__name__, fn)
    mod.__doc__ = __doc__
    parent = sys.modules.get("transformers.data.metrics")
    if parent is None:
        parent = types.ModuleType("transformers.data.metrics")
        sys.modules["transformers.data.metrics"] = parent
        try:
            import transformers.data as tdata

            tdata.metrics = parent
        except ImportError:
            pass
    parent.squad_metrics = mod
    sys.modules["transformers.data.metrics.squad_metrics"] = mod
    return True
