"""Assertion status of an entity from its sentence: NegEx/ConText-style trigger phrases with scopes.

Statuses (i2b2 2010): ``present`` (the default), ``absent``, ``possible``, ``hypothetical``,
``conditional``, ``associated_with_someone_else``. A trigger is a phrase with a status and a direction:
``forward`` triggers govern the entities after them, ``backward`` the ones before them, ``both`` either. A scope runs
from the trigger to the end (or start) of the sentence, is capped at a number of words, and stops at
a termination term (``but``, ``however``, ``;`` ... and, for family members, a mention of the
patient). Pseudo-triggers ("no change", "gram negative", "not only") match first and are ignored.
When several triggers reach an entity: someone else > hypothetical > conditional, then the nearest of
absent/possible. Rules only: no model, no sentence splitting (callers pass the sentence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUSES = ("present", "absent", "possible", "hypothetical", "conditional", "associated_with_someone_else")
_PRECEDENCE = ("associated_with_someone_else", "hypothetical", "conditional")
FORWARD_WORDS = 12  # scope caps, in words between trigger and entity
BACKWARD_WORDS = 6

# (phrase regex, status, direction) -- phrases are matched case-insensitively on word boundaries
_TRIGGERS: list[tuple[str, str, str]] = [
    # pseudo-triggers: look like triggers, mean nothing
    (r"no (?:significant |interval )?change|no increase|no decrease|not only|not necessarily|no further|"
     r"gram[- ]negative|not certain (?:if|whether)|without difficulty|not cause|negative (?:for|to) (?:\w+ )?history", "pseudo", "none"),
    # absent
    (r"no evidence of|no signs? of|no history of|no new|no|not|none|never|neither|nor|denies|denied|denying|"
     r"without|w/o|negative for|free of|absence of|rules out|ruled out for|fails? to reveal|no longer|"
     r"resolved|unremarkable for", "absent", "forward"),
    (r"(?:was|were|is|are|has been|have been) ruled out|(?:was|were|is|are) not (?:seen|present|found)|"
     r"ruled out|not (?:seen|present|found)|negative|absent|resolved", "absent", "backward"),
    # possible
    (r"cannot rule out|can ?not rule out|cannot exclude|can ?not exclude|rule out|r/o|possible|possibly|probable|probably|"
     r"likely|suspected|suspicious for|suspicion (?:of|for)|concern for|concerning for|worrisome for|question of|"
     r"questionable|may (?:have|be|represent)|might (?:have|be)|could (?:have|be|represent)|suggestive of|"
     r"differential(?: diagnosis)? (?:includes?|of)|versus|vs\.?|presumed|uncertain", "possible", "forward"),
    (r"(?:is|was|are|were) (?:possible|likely|unlikely|suspected|questionable)", "possible", "both"),
    (r"unlikely|(?:cannot|can ?not|could not) be (?:ruled out|excluded)|not (?:ruled out|excluded)|versus|vs\.?|\?", "possible", "backward"),
    # hypothetical
    (r"if|in case of|should (?:he|she|you|they|the patient) (?:develop|have|experience|notice)|should|watch for|"
     r"look out for|monitor for|return (?:to [\w ]{1,30} )?(?:if|for)|call (?:[\w ]{1,20} )?(?:if|for)|"
     r"as needed for|prn for|p\.r\.n\. for|to prevent|prevention of|prophylaxis (?:for|against|of)|"
     r"in the event of|at risk (?:for|of)", "hypothetical", "forward"),
    # conditional (the condition usually follows the problem)
    (r"with exertion|on exertion|upon exertion|when (?:climbing|walking|exposed|lying|standing|eating|running)|"
     r"upon (?:standing|walking|exertion|exposure)|after (?:eating|meals|exercise|exertion)|"
     r"while (?:walking|running|lying|eating|exercising)|during (?:exercise|exertion|meals)|"
     r"triggered by|brought on by|provoked by|precipitated by|exacerbated by|on standing|only with", "conditional", "backward"),
    # someone else: family members and family history
    (r"family history (?:of|significant for|positive for|includes?)|family history|fh of|fhx? of|"
     r"(?:maternal|paternal) (?:grand)?(?:mother|father|aunt|uncle)|(?:grand)?mother'?s?|(?:grand)?father'?s?|"
     r"sister|brother|sibling|siblings|aunt|uncle|cousin|parents?|son|daughter|(?:his|her) (?:wife|husband|partner)",
     "associated_with_someone_else", "forward"),
    (r"runs in (?:the|his|her) family|in (?:the|his|her) family|in (?:his|her) (?:mother|father|sister|brother|family)",
     "associated_with_someone_else", "backward"),
]

_TERMINATORS = r"but|however|although|though|except|apart from|aside from|yet|still|which|who|secondary to|due to|because|since"
_PATIENT = r"the patient|patient|pt|he|she|his own|her own|personal history"

_TERMINATOR_RE = re.compile(rf"(?<!\w)(?:{_TERMINATORS})(?!\w)|[;:]", re.IGNORECASE)
_PATIENT_RE = re.compile(rf"(?<!\w)(?:{_PATIENT})(?!\w)", re.IGNORECASE)
_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Trigger:
    start: int
    end: int
    status: str
    direction: str


def find_triggers(sentence: str) -> list[Trigger]:
    """Trigger phrases in ``sentence``, leftmost-longest, pseudo-triggers removed."""
    found = []
    position = 0
    while position < len(sentence):
        best: Trigger | None = None
        for match in _matches_at(sentence, position):
            if best is None or match.end > best.end:
                best = match
        if best is None:
            position += 1
            continue
        if best.status != "pseudo":
            found.append(best)
        position = best.end
    return found


def _matches_at(sentence: str, position: int) -> list[Trigger]:
    matches = []
    for index, (phrase, status, direction) in enumerate(_TRIGGERS):
        pattern = _COMPILED[index]
        match = pattern.match(sentence, position)
        if match and match.end() > position:
            matches.append(Trigger(position, match.end(), status, direction))
    return matches


_COMPILED = [re.compile(rf"(?<!\w)(?:{phrase})(?!\w)" if not phrase.endswith("\\?") else rf"(?<!\w)(?:{phrase})", re.IGNORECASE) for phrase, _, _ in _TRIGGERS]


def _blocked(between: str, status: str) -> bool:
    if _TERMINATOR_RE.search(between):
        return True
    return status == "associated_with_someone_else" and bool(_PATIENT_RE.search(between))


def assert_entity(sentence: str, start: int, end: int, triggers: list[Trigger] | None = None) -> str:
    """The status of the entity ``sentence[start:end]``."""
    triggers = find_triggers(sentence) if triggers is None else triggers
    reaching: list[tuple[int, str]] = []  # (distance in characters, status)
    for trigger in triggers:
        if trigger.start < end and trigger.end > start:
            continue  # a trigger inside the entity ("no" in "no reflow") governs nothing
        if trigger.direction in ("forward", "both") and trigger.end <= start:
            between = sentence[trigger.end : start]
            if len(_WORD_RE.findall(between)) <= FORWARD_WORDS and not _blocked(between, trigger.status):
                reaching.append((start - trigger.end, trigger.status))
        elif trigger.direction in ("backward", "both") and trigger.start >= end:
            between = sentence[end : trigger.start]
            if len(_WORD_RE.findall(between)) <= BACKWARD_WORDS and not _blocked(between, trigger.status):
                reaching.append((trigger.start - end, trigger.status))
    if not reaching:
        return "present"
    for status in _PRECEDENCE:
        if any(s == status for _, s in reaching):
            return status
    return min(reaching)[1]


def assert_entities(sentence: str, spans: list[tuple[int, int]]) -> list[str]:
    """Statuses for several entities of one sentence (triggers found once)."""
    triggers = find_triggers(sentence)
    return [assert_entity(sentence, start, end, triggers) for start, end in spans]
