"""HaluEval prompts and scoring as P1's and P3's lm-eval forks define them.

The instruction texts are HaluEval's own (RUCAIBox/HaluEval evaluation/evaluate.py), as the forks
shortened them: P1 keeps one example per task (P1-code eval/lm-evaluation-harness/lm_eval/tasks/
halueval/utils.py), P3 none (P3-code evaluation/lm-evaluation-harness/lm_eval/tasks/halueval/
utils.py). Both end in the source's stray quote (`"No"".`). Scoring:

- P1: the first line of the stripped answer; "Yes" and "No" (case-sensitive substrings) both or
  neither present: wrong; else that word, lower-cased, must equal `hallucination` (yes/no).
- P3: the last whole word Yes/No (any case) of the answer with its thinking removed, else the
  first line lower-cased; then the same rule on lower-case "yes"/"no".
"""

from __future__ import annotations

import re

P1_QA = 'I want you act as an answer judge. Given a question and an answer, your objective is to determine if the provided answer contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\n\nYou are trying to determine if the answer misunderstands the question context and intention.\n#Question#: What is a rare breed of dog that was derived as a variant of Rat Terrier, Shiloh Shepherd dog or American Hairless Terrier?\n#Answer#: American Hairless Terrier\n#Your Judgement#: No\n\nYou should try your best to determine if the answer contains non-factual or hallucinated information according to the above hallucination types. The answer you give MUST be "Yes" or "No"".'

P1_DIALOGUE = 'I want you act as a response judge. Given a dialogue history and a response, your objective is to determine if the provided response contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\n\nYou are trying to determine if the true entity in the response is replaced with a highly similar entity.\n#Dialogue History#: [Human]: Could you recommand movies similar to The Dark Knight? [Assistant]: The sequel to Batman Begins is The Dark Knight. [Human]: Okay. Who is the director of The Dark Knight and any other movies from him not related to Batman?\n#Response#: Christopher Nolan was the director. He also directed insomnia and inception.\n#Your Judgement#: No\n\nYou should try your best to determine if the response contains non-factual or hallucinated information according to the above hallucination types. The answer you give MUST be "Yes" or "No"".'

P1_SUMMARIZATION = 'I want you act as a summary judge. Given a document and a summary, your objective is to determine if the provided summary contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\n\nYou are trying to determine if the summary is factual but some information cannot be directly inferred or entailed from the document.\n#Document#: The panther chameleon was found on Monday by a dog walker in the wooded area at Marl Park. It had to be put down after X-rays showed all of its legs were broken and it had a deformed spine. RSPCA Cymru said it was an "extremely sad example of an abandoned and neglected exotic pet". Inspector Selina Chan said: "It is a possibility that the owners took on this animal but were unable to provide the care he needs and decided to release him to the wild. "We are urging potential owners of exotic animals to thoroughly research what is required in the care of the particular species before taking one on. "Potential owners need to make sure they can give their animal the environment it needs and they have the facilities, time, financial means and long-term commitment to maintain a good standard of care, as required under the Animal Welfare Act 2006." She added it was illegal to release non-native species into the wild.\n#Summary#: A chameleon that was found in a Cardiff park has been put down after being abandoned and neglected by its owners.\n#Your Judgement#: Yes\n\nYou should try your best to determine if the summary contains non-factual or hallucinated information according to the above hallucination types. The answer you give MUST be "Yes" or "No"".'

P3_QA = 'I want you act as an answer judge. Given a question and an answer, your objective is to determine if the provided answer contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\nYou should try your best to determine if the answer contains non-factual or hallucinated information. The answer you give MUST be "Yes" or "No"".'

P3_DIALOGUE = 'I want you act as a response judge. Given a dialogue history and a response, your objective is to determine if the provided response contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\nYou should try your best to determine if the response contains non-factual or hallucinated information. The answer you give MUST be "Yes" or "No"".'

P3_SUMMARIZATION = 'I want you act as a summary judge. Given a document and a summary, your objective is to determine if the provided summary contains non-factual or hallucinated information. You SHOULD give your judgement based on the following hallucination types and the world knowledge.\nYou should try your best to determine if the summary contains non-factual or hallucinated information. The answer you give MUST be "Yes" or "No"".'

def _qa(instr: str, doc: dict) -> str:
    return (instr + "\n\n#Knowledge: " + doc["knowledge"] + "\n#Question#: " + doc["question"]
            + "\n#Answer#: " + doc["answer"] + "\n#Your Judgement#:")


def _dialogue(instr: str, doc: dict) -> str:
    return (instr + "\n\n#Knowledge: " + doc["knowledge"] + "\n#Dialogue History#: "
            + doc["dialogue_history"] + "\n#Response#: " + doc["response"]
            + "\n#Your Judgement#:")


def _summarization(instr: str, doc: dict) -> str:
    return (instr + "\n\n#Document#: " + doc["document"] + "\n#Summary#: " + doc["summary"]
            + "\n#Your Judgement#:")


def doc_to_text_qa(doc: dict) -> str:
    return _qa(P1_QA, doc)


def doc_to_text_dialogue(doc: dict) -> str:
    return _dialogue(P1_DIALOGUE, doc)


def doc_to_text_summarization(doc: dict) -> str:
    return _summarization(P1_SUMMARIZATION, doc)


def doc_to_text_p3_qa(doc: dict) -> str:
    return _qa(P3_QA, doc)


def doc_to_text_p3_dialogue(doc: dict) -> str:
    return _dialogue(P3_DIALOGUE, doc)


def doc_to_text_p3_summarization(doc: dict) -> str:
    return _summarization(P3_SUMMARIZATION, doc)


def doc_to_target(doc: dict) -> str:
    return doc["hallucination"]


def judged(gold: str, prediction: str, yes: str, no: str) -> dict[str, float]:
    """Wrong when both or neither of the two words appear; else the word must be the gold."""
    if (yes in prediction) == (no in prediction):
        return {"acc": 0.0}
    return {"acc": 1.0 if gold == ("yes" if yes in prediction else "no") else 0.0}


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """P1: the first line of the answer, case-sensitive Yes / No."""
    return judged(doc_to_target(doc), results[0].strip().split("\n")[0], "Yes", "No")


_THINK = (re.compile(r"<think>.*?</think>\s*", re.DOTALL), re.compile(r"^.*</think>", re.DOTALL),
          re.compile(r"<think>.*?<\|/think\|>\s*", re.DOTALL),
          re.compile(r"^.*<\|/think\|>", re.DOTALL))


def process_results_p3(doc: dict, results: list[str]) -> dict[str, float]:
    """P3: the last Yes/No word after the thinking, else the first line; lower case."""
    text = results[0]
    clean = text
    for pat in _THINK:
        clean = pat.sub("", clean).strip()
    words = re.findall(r"\b(Yes|No)\b", clean, re.IGNORECASE)
    pred = words[-1].lower() if words else text.strip().split("\n")[0].lower()
    return judged(doc_to_target(doc), pred, "yes", "no")
