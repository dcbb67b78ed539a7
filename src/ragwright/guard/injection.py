"""Prompt-injection detection for user messages (direct) and retrieved chunks (indirect).

Why this design: the training set is small (546 texts, English and German, plus a few other
languages) and the check runs on every query and every retrieved chunk, so it must cost well
under 5 ms on a CPU. A logistic regression over hashed character n-grams (robust to German
compounds, inflection, typos and spacing tricks) and hashed word uni/bigrams, trained with each
feature scaled by how well it separates the classes (NBSVM), does that in well under a
millisecond, with no model download and no pickle: weights ship as a sparse `.npz` plus a
JSON file with the thresholds chosen by cross-validation (tools/guard/train_injection.py writes both).
MiniLM features were measured and not taken: the whole model (0.963 CV accuracy) costs 7 ms or more
per message on a 2-core CPU; its input embeddings as a feature block (0.969) learnt punctuation
("?" = benign) and flagged half of benign statements.

A handful of generic, high-precision rules (override / leak / role-switch phrasing, chat-template
markers) sit beside the classifier: they catch paraphrases the 546 texts never showed and make the
verdict explainable. Texts are also scored sentence by sentence (the highest score counts), and a
retrieved chunk by its sentences only (see `text_parts`), each source with its own threshold.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from .injection_features import FeatureConfig, featurize, featurize_many, normalise
from .unicode_fold import obfuscation

if TYPE_CHECKING:
    from .cascade import CascadeDetector

__all__ = [
    "RULES",
    "RULE_NAMES",
    "FeatureConfig",
    "InjectionDetector",
    "InjectionVerdict",
    "LinearModel",
    "default_detector",
    "featurize",
    "featurize_many",
    "fired_rules",
    "load_model",
    "normalise",
    "segments",
    "text_parts",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_NPZ = DATA_DIR / "injection.npz"
WEIGHTS_JSON = DATA_DIR / "injection.json"

# Scores at or above this are given to a text on which a rule fired (above any CV threshold).
RULE_SCORE = 0.99


# ----------------------------------------------------------------------------- rules

_W = r"(?:\W+\w+){0,4}?\W+"  # up to four words in between
_IMP = r"(?:^|[.!?,:;\-]\s*|\b(?:and|then|now|please|but|so|just|simply)\s+)"  # an imperative's position
_INSTR_EN = (
    r"(?:instructions?|directions|directives|rules|prompts?|orders|commands|guidelines|programming|"
    r"tasks|assignments|context|documents|articles)"
)
_INSTR_DE = (
    r"(?:anweisungen|instruktionen|befehle|aufgaben|aufträge|regeln|vorgaben|anordnungen|"
    r"informationen|angaben|ausführungen|dokumente|artikel|kontext)"
)
_LEAK = (
    r"\b(?:reveal|show|print|display|repeat|output|tell me|give me|spell out|leak|write down|list)\b"
    r"(?: (?:me|us|all|of|back))*"
)

# name -> pattern over the normalised (lower-case) text. Generic phrasings of known attack families,
# not strings from the training set; bench/guard.py reports their hits and precision, and
# tests/guard/test_injection.py holds benign look-alikes ("ignore the check engine light", "you are
# now logged in", "show me the rules for parking") that they must not match.
RULES: dict[str, re.Pattern[str]] = {
    "override_instructions": re.compile(
        rf"\b(?:ignore|disregard|forget|override|bypass)\b{_W}{_INSTR_EN}\b"
        r"|\b(?:drop|abandon|discard)\b(?: all)? (?:your|the|previous|prior) (?:\w+ )?"
        r"(?:instructions|rules|guidelines|programming)\b"
        rf"|{_IMP}(?:forget|ignore|disregard) (?:about )?(?:everything|all)\b"
        r"|\b(?:ignoring|disregarding|regardless of) (?:all |the |any |your )?(?:previous |prior |above"
        rf" )?{_INSTR_EN}\b"
        r"|\b(?:despite|regardless of|no matter) what (?:you(?:'ve| have)? been|you were|you are) "
        r"(?:told|instructed|programmed)\b"
    ),
    "override_instructions_de": re.compile(
        rf"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*|verwirf|verwerfen sie)\b{_W}{_INSTR_DE}\b"
        r"|\bvergiss alles\b|\bvergessen sie alles\b"
        rf"|\b(?:vorherigen|bisherigen|obigen|vorangegangenen|vorangehenden) {_INSTR_DE}\W+"
        r"(?:\w+\W+){0,3}?(?:ignorieren|vergessen|sind (?:\w+ )?(?:irrelevant|ungültig|nicht))"
        rf"|\babweichend (?:zu|von) (?:den )?(?:vorherigen|bisherigen|obigen) {_INSTR_DE}"
    ),
    # the same attack in French, Spanish, Italian, Portuguese, Dutch, Russian, Croatian
    "override_instructions_intl": re.compile(
        r"\b(?:oubliez|oublie|ignorez)\b(?: \w+){0,3} (?:instructions|consignes|règles)\b"
        r"|\b(?:olvida|olvide|olvidad|ignora|ignore)\b(?: \w+){0,3} (?:instrucciones|reglas|órdenes)\b|\bolvid[ae]"
        r" todo\b"
        r"|\b(?:dimentica|ignora)\b(?: \w+){0,3} (?:istruzioni|regole)\b"
        r"|\b(?:esqueça|esqueca|ignore)\b(?: \w+){0,3} (?:instruções|instrucoes|regras)\b"
        r"|\b(?:vergeet|negeer)\b(?: \w+){0,3} (?:instructies|regels)\b"
        r"|(?:забудь\w*|игнорируй\w*)(?: \w+){0,3} (?:инструкци\w*|правила)"
        r"|\bzaboravi\w*(?: \w+){0,3} (?:instrukcije|upute|pravila)\b"
    ),
    "new_instructions": re.compile(
        r"\b(?:now|here) (?:follow|come)s? (?:some |a few )?new (?:instructions|tasks|rules)\b"
        r"|\byour (?:new )?instructions are (?:now|as follows)\b|\bchange your (?:instructions|rules|programming)\b"
        r"|\bfrom now on,? you (?:are going to|will|must|shall) (?:act|be|respond|answer|pretend|only|always)\b"
        r"|\b(?:nun|jetzt) folgen (?:\w+ )?neue (?:anweisungen|aufgaben|instruktionen|befehle)\b"
        r"|\bab (?:jetzt|sofort) (?:bist|wirst|sollst) du (?:ein|eine|nur|nicht mehr|als)\b"
    ),
    "role_switch": re.compile(
        r"\byou are now (?:a|an|the|my|in|called|named|going|acting|playing|no longer)\b|\byou are now \w*(?:bot|gpt)\b"
        r"|\bpretend (?:that )?you are\b|\bpretend to be\b"
        r"|\b(?:i want you to|i'd like you to|you will|you must|you are going to|you should|you have to) "
        r"(?:act|behave|respond|pretend) (?:as|like)\b|(?:^|[.!?:]\s*)(?:please )?(?:act|behave) as (?:a|an|my|if)\b"
        r"|\bstay in (?:your )?(?:role|character)\b|\bdo(?:n't| not) break character\b"
        r"|\b(?:dan|developer|jailbreak|god) mode\b|\bdo anything now\b|\bjailbr(?:eak|oken)\b"
        r"|\bdu bist (?:jetzt|nun|ab jetzt|ab sofort) (?:ein|eine|der|die|das|kein|keine|mein|meine)\b"
        r"|\b(?:jetzt|nun) bist du (?:ein|eine|der|die|das|kein|keine|mein|meine)\b"
        r"|\bich möchte,? dass (?:sie|du) als \w+(?:[- ]\w+){0,3} (?:fungieren|fungierst|agieren|agierst|auftreten)\b"
    ),
    "prompt_leak": re.compile(
        rf"{_LEAK} (?:your|the|this) (?:(?:full|entire|complete|whole|original|initial|hidden|secret) )?(?:system )?"
        r"(?:prompts?|prompt texts?)\b"
        rf"|{_LEAK} your (?:\w+ )?(?:instructions|rules|guidelines|programming|directives)\b"
        rf"|{_LEAK} the (?:\w+ )?system (?:prompt|instructions|message)\b"
        r"|\bwhat (?:are|were|is|was) your (?:system |initial |original )?(?:instructions|prompt|rules|guidelines)\b"
        r"|\b(?:your|the) (?:system|initial|hidden|secret) prompt\b|\bwhat was written (?:at the beginning|above"
        r"|before)\b"
        r"|\b(?:zeige?|gib|verrate|wiederhole|nenne)\b(?: (?:mir|uns|alle|sämtliche))* (?:deine?n?|ihre?n?) (?:\w+ )?"
        r"(?:prompt\w*|anweisungen|instruktionen|regeln|systemprompt)\b|\bprompt-?texte?\b"
    ),
    "context_override": re.compile(
        r"\b(?:do not|don'?t|dont|without) (?:look(?:ing)? (?:in|at)|us(?:e|ing)|answer(?:ing)? (?:\w+ ){0,3}?"
        r"(?:according to|from|based on)) (?:the )?(?:provided |given |retrieved )?(?:documents|context|articles"
        r"|sources)\b"
        r"|\b(?:by|from|with) your own knowledge (?:and )?(?:not|instead of) (?:by |from )?the (?:articles|documents"
        r"|context)\b"
        r"|\bdo not answer (?:this|the) question\b|\binstead,? (?:output|print|say|write|respond with)\b"
        r"|\b(?:just|only) (?:say|output|print|reply with|respond with|answer with) [\"'“]"
    ),
    "addressed_to_model": re.compile(  # text in a document that speaks to the model reading it
        r"\bif you are an? (?:ai|llm|(?:large )?language model|chatbot|(?:ai )?assistant)(?: model)?"
        r"(?:[,.:;]| (?:reading|processing|summari[sz]ing|that is|who is))"
        r"|\b(?:note|message|instructions?|attention) (?:to|for) (?:the |any |all )?(?:ai|llms?|(?:ai )?assistants?"
        r"|chatbots?|"
        r"language models?)\b|\b(?:dear|hey|hello|hi) (?:ai|assistant|chatbot|chatgpt|gpt|llm|language model)\b"
        r"|(?:^|[.!?]\s+)(?:ai|assistant|chatgpt|chatbot|llm), |\bwenn du eine? (?:ki|sprachmodell|ki-assistent)\b"
        r"|\b(?:hinweis|nachricht|anweisung) (?:an|für) (?:die |den |das |jede )?(?:ki|sprachmodell|assistenten"
        r"|chatbot)\b"
        r"|\b(?:liebe|lieber|hallo|hey) (?:ki|chatbot|assistent)\b"
    ),
    "template_markers": re.compile(  # chat-template tokens and fake turns smuggled into a text
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[/?inst\]|<</?sys>>"
        r"|###\s*(?:system|instruction)\s*:|\bhuman:.{0,500}\bassistant:"
    ),
}
RULE_NAMES: tuple[str, ...] = tuple(RULES)


def fired_rules(text: str) -> list[str]:
    """Names of the rules matching the text (normalised first, like the classifier's input), and
    "unicode_obfuscation" for a text heavily disguised (guard/unicode_fold.py: hidden tag text,
    invisible characters between letters, mixed-script words): ordinary text never is (0 of 18,085)."""
    t = normalise(text)
    rules = [name for name, rx in RULES.items() if rx.search(t)]
    return rules + (["unicode_obfuscation"] if obfuscation(text).heavy else [])


# ----------------------------------------------------------------------------- segments

_SENT = re.compile(r"(?<=[.!?:;])\s+|\n+|\\n")
_WORDS = re.compile(r"\w+")
SOURCES = ("user", "retrieved")


def segments(text: str, max_chars: int = 320, min_words: int = 1) -> list[str]:
    """The sentences of a text that has more than one (long ones cut to max_chars), else [].

    A piece of fewer than `min_words` words ("Fax:", "Bot:", "John:") is joined to the piece
    after it (the last one to the piece before): alone it says nothing, and scored alone such
    fragments were most of the false alarms on benign statements (bench/guard.py)."""
    pieces: list[str] = []
    for s in _SENT.split(text):
        s = s.strip() if s else ""
        pieces.extend(s[i : i + max_chars] for i in range(0, len(s), max_chars))
    if min_words > 1:
        pieces = _join_short([p for p in pieces if p], min_words)
    return pieces if len(pieces) > 1 else []


def _join_short(pieces: list[str], min_words: int) -> list[str]:
    out: list[str] = []
    carry = ""
    for p in pieces:
        p = f"{carry} {p}" if carry else p
        carry = p if len(_WORDS.findall(p)) < min_words else ""
        if not carry:
            out.append(p)
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


def text_parts(text: str, cfg: FeatureConfig, source: str = "user") -> list[str]:
    """What gets scored; the text's score is the highest of its parts'.

    Why sentences: a positive training text is often a benign question followed by an attack,
    and a retrieved passage may carry one injected sentence; scored whole, the attack is diluted
    (training does the same, see tools/guard/train_injection.py). Why not the whole of a retrieved
    passage: the training texts are short prompts, so a long benign passage as a whole lies outside
    what the model has seen (measured: a third of SciFact abstracts scored above the user
    threshold), while its sentences do not.
    """
    segs = segments(text, cfg.max_segment, cfg.min_words)
    if not segs:
        return [text]
    return segs if source == "retrieved" else [text, *segs]


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class InjectionVerdict:
    """The detector's answer: score in 0..1, whether it crosses the threshold, and why
    (the names of the rules that fired, "classifier" when the model's score crossed it, and
    "second_stage_skipped" when the cascade's second stage could not run: see cascade.py).
    `second_stage` is "" for the first stage alone, else "used", "not needed" or "skipped: why";
    `window` is the (start, end) of the worst window of a text checked in windows."""

    score: float
    flagged: bool
    reasons: list[str] = field(default_factory=list)
    second_stage: str = ""
    window: tuple[int, int] | None = None


class LinearModel:
    """Logistic regression over the sparse features: dense weight vector plus bias."""

    def __init__(self, cfg: FeatureConfig, weights: np.ndarray, bias: float) -> None:
        self.cfg, self.w, self.b = cfg, weights, float(bias)

    def logits(self, rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        return np.array([float(np.dot(v, self.w[i])) + self.b for i, v in rows])

    def scores(self, texts: Sequence[str], source: str = "user") -> np.ndarray:
        """Each text's probability: the highest of its parts' (one featurisation for all)."""
        parts = [text_parts(t, self.cfg, source) for t in texts]
        if not parts:
            return np.zeros(0)
        z = self.flat_logits([p for ps in parts for p in ps])
        starts = np.cumsum([0, *(len(ps) for ps in parts[:-1])])
        return 1.0 / (1.0 + np.exp(-np.maximum.reduceat(z, starts)))

    def flat_logits(self, parts: Sequence[str]) -> np.ndarray:
        """The logit of each already-split part (the cascade scores parts, not texts)."""
        if not parts:
            return np.zeros(0)
        r, c, v = featurize_many(parts, self.cfg)
        out: np.ndarray = np.bincount(r, weights=v * self.w[c], minlength=len(parts)) + self.b
        return out


def load_model(npz: Path = WEIGHTS_NPZ, meta: Path = WEIGHTS_JSON) -> tuple[LinearModel, dict[str, Any]]:
    """Shipped weights: sparse (index, value) pairs in an npz (no pickle), metadata in JSON,
    checked against the sha256 the JSON records so that a swapped or stale file fails loudly."""
    hint = "retrain in a checkout: python -m tools.guard.train_injection --data ../shared/data/injection/train.jsonl"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelError(f"prompt-injection weights missing ({exc}); {hint}") from exc
    if digest != info.get("npz_sha256"):
        raise ModelError(f"{npz}: sha256 {digest} does not match {meta.name}; {hint}")
    cfg = FeatureConfig.from_json(info["features"])
    with np.load(npz, allow_pickle=False) as z:
        w = np.zeros(cfg.dim, dtype=np.float64)
        w[z["index"]] = z["value"]
        bias = float(z["bias"])
    return LinearModel(cfg, w, bias), info


class InjectionDetector:
    """Scores texts for prompt injection; thread-safe, weights loaded on first use.

    `source="user"` is for the user's message (direct injection), `source="retrieved"` for a
    retrieved chunk (indirect injection): each has its own threshold, chosen by cross-validation
    and shipped with the weights. `use_rules=False` gives the classifier alone (for measurement);
    `thresholds` overrides the shipped ones, e.g. {"retrieved": 0.9}.
    """

    def __init__(
        self,
        thresholds: dict[str, float] | None = None,
        use_rules: bool = True,
        model: LinearModel | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._override = dict(thresholds or {})
        self.use_rules = use_rules
        self._model, self._meta = model, meta
        self._lock = threading.Lock()

    def _load(self) -> LinearModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model, self._meta = load_model()
        return self._model

    def threshold(self, source: str = "user") -> float:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        if source in self._override:
            return float(self._override[source])
        self._load()
        shipped = (self._meta or {}).get("thresholds", {}).get(source, {})
        return float(shipped.get("with_rules" if self.use_rules else "classifier", 0.5))

    def score(self, text: str, source: str = "user") -> float:
        """Probability-like score in 0..1; a rule that fires lifts it to at least RULE_SCORE."""
        return self.check(text, source).score

    def check(self, text: str, source: str = "user") -> InjectionVerdict:
        return self.check_many([text], source)[0]

    def check_many(self, texts: Sequence[str], source: str = "user") -> list[InjectionVerdict]:
        """Verdicts for several texts (e.g. all retrieved chunks), featurised in one pass."""
        thr = self.threshold(source)
        out = []
        for text, p in zip(texts, self._load().scores(texts, source).tolist(), strict=True):
            reasons = fired_rules(text) if self.use_rules else []
            score = max(p, RULE_SCORE) if reasons else p
            if p >= thr:
                reasons.append("classifier")
            out.append(InjectionVerdict(score=round(score, 6), flagged=score >= thr, reasons=reasons))
        return out


def default_detector() -> CascadeDetector:
    """The process-wide check with the shipped weights and thresholds (loaded on first use): this
    detector as the first stage of the cascade (cascade.py), which the ask and the gateway use."""
    from .cascade import default_cascade

    return default_cascade()
