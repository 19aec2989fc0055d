"""Words as evidence: what a hunk and a failure share, without the words every sentence shares.

Stop words are English function words, pronouns and auxiliaries, the modal verbs rules are
written with ("must", "should", "can", "only"), and programming-language keywords that are no
English verb or noun a rule would use: none of them says which rule or which value a failure is
about ("return" and "pass" stay: a policy returns orders). Stems are crude on purpose ("confirming",
"confirmed", "confirm" meet); nothing cleverer.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W\d_][^\W_]{2,}")
"""A letter, then two or more letters or digits, in any script: "Zürich" is one word, not "rich"."""
STOP = frozenset(
    ["the", "and", "first", "last", "next", "now", "still", "even", "well", "much", "many", "for", "you", "your", "yours", "with", "that", "this", "these", "those", "are", "not", "from", "was", "were", "but", "have", "has", "had", "any", "all", "can", "could", "use", "used", "when", "then", "than", "into", "its", "will", "would", "must", "should", "shall", "may", "might", "always", "never", "only", "also", "just", "very", "more", "most", "less", "least", "some", "such", "each", "every", "other", "others", "there", "here", "where", "which", "what", "who", "whom", "whose", "why", "how", "about", "above", "below", "over", "under", "again", "further", "once", "both", "few", "own", "same", "too", "out", "off", "per", "via", "being", "been", "does", "did", "doing", "done", "them", "they", "their", "theirs", "him", "his", "her", "hers", "she", "our", "ours", "ourselves", "yourself", "itself", "myself", "before", "after", "until", "while", "during", "because", "since", "though", "although", "unless", "whether", "either", "neither", "true", "false", "none", "null", "nil", "def", "self", "import", "const", "let", "var", "function", "void", "new", "else", "elif", "try", "except", "finally", "raise", "throw", "async", "await", "lambda", "yield"]
)  # fmt: skip


def stem(word: str) -> str:
    """Enough stemming that "confirming", "confirmed" and "confirm" meet, and "modified" and "modify"."""
    if len(word) > 5 and word.endswith(("ied", "ies")):
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # "enable" and "enabled", "exchange" and "exchanging" meet without their final e.
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def words_of(text: str) -> set[str]:
    """The stemmed content words of ``text``."""
    return {stem(w.lower()) for w in WORD.findall(text) if w.lower() not in STOP}


def surface_words(text: str) -> dict[str, str]:
    """Each stem of ``text`` with the word it came from, as written (the first one): evidence is quoted
    in the hunk's own words, never as a stem ("exchang")."""
    out: dict[str, str] = {}
    for word in WORD.findall(text.replace("_", " ")):
        if word.lower() not in STOP:
            out.setdefault(stem(word.lower()), word.lower())
    return out
