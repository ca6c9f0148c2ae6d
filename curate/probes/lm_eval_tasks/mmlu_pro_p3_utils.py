"""P3's 0-shot MMLU-Pro prompt: the question, its lettered options, and the instruction to put
the letter in \\boxed{}; the letter list is the item's own (MMLU-Pro has 3 to 10 options)."""

from __future__ import annotations

LETTERS = "ABCDEFGHIJKLMNOP"


def letters(n: int) -> str:
    """P3's wording: "A, B, C, D, E, F, G, H, I or J" for ten (no comma before "or")."""
    if n <= 1:
        return "A"
    return ", ".join(LETTERS[:n - 1]) + " or " + LETTERS[n - 1]


def doc_to_text(doc: dict) -> str:
    options = list(doc["options"])
    prompt = "Question:\n" + doc["question"] + "\nOptions:\n"
    for i, opt in enumerate(options):
        prompt += f"{LETTERS[i]}. {opt}\n"
    return prompt + ("Please reason step by step and return your final answer within "
                     "\\boxed{}. Only include the letter choice (" + letters(len(options))
                     + ") as your final answer.")
