"""Instruction cues in seven languages and a message's shape: inputs of the injection stacker.

Why: after the cascade, the grouped-CV misses were short imperatives ("generate c++", "state
that ...") and role prompts in German and other languages; the first stage learns only the
n-grams of the 546 training texts (mostly English and German) and MiniLM is English-only, so
"stell dir vor, du bist ..." or "fais semblant d'être ..." look like ordinary text to both. These
patterns are general language knowledge (how each language gives a role, tells someone to
disregard something, dictates what to say, and forms an imperative), not phrases taken from the
data set; they are evidence the stacker weighs (cascade.py), never a verdict by themselves.

`cue_features(text)` gives four numbers: a role is assigned to the reader; an instruction
overrides, reveals or dictates the answer; a sentence opens with an imperative verb; and
log(1 + words), so the stacker can tell a terse command from a long question. All run over the
normalised text (lower case, NFKC) in a few microseconds.
"""

from __future__ import annotations

import math
import re

from .injection_features import normalise

N_CUES = 4


ROLE = re.compile(
    "|".join(
        (
            # English
            r"\byou(?:'re| are) (?:now|from now on|no longer)\b|\bfrom now on,? you(?:'re| are)\b",
            r"\bpretend (?:that )?(?:you|to be)\b|\bimagine (?:that )?you(?:'re| are)\b",
            r"\bi (?:want|need) you to (?:act|be|pretend|play)\b|\bstay in character\b|\brole-?play\b",
            # German
            r"\bdu bist (?:jetzt|nun|ab jetzt|ab sofort)\b|\b(?:jetzt|nun|ab jetzt|ab sofort) bist du\b",
            r"\bsie sind (?:jetzt|nun|ab jetzt|ab sofort) (?:ein|eine|der|die|das)\b|\btu(?:e|n sie)? so,? als\b",
            r"\bstell(?:e|en sie)? (?:dir|sich) vor,? (?:dass )?(?:du|sie) (?:bist|wärst|wären|sind)\b",
            r"\bals \w+(?:[-, ]+\w+){0,4} (?:fungier|agier|auftret)\w*|\bich möchte,? dass (?:du|sie) (?:als|wie)\b",
            r"\bverhalte dich (?:wie|als)\b",
            # French
            r"\b(?:tu es|vous êtes) (?:maintenant|désormais)\b|\bfai(?:s|tes) semblant\b",
            r"\bimagin(?:e|ez) que (?:tu es|vous êtes)\b|\bcomporte-toi comme\b|\bcomportez-vous comme\b",
            # Spanish
            r"\b(?:ahora eres|eres ahora)\b|\bfing(?:e|ir) (?:que|ser)\b|\bimagina que eres\b",
            r"\bhaz (?:de cuenta|como si)\b|\bcomp[óo]rtate como\b",
            # Italian
            r"\b(?:ora|adesso) sei\b|\bsei (?:ora|adesso)\b|\bfai finta\b|\bfingi di\b|\bimmagina di essere\b",
            r"\bcomportati come\b",
            # Dutch
            r"\b(?:je|jij) bent nu\b|\bnu ben je\b|\bdoe alsof\b|\bstel je voor dat (?:je|jij)\b|\bgedraag je als\b",
            # Portuguese
            r"\bvoc[êe] [ée] agora\b|\bagora voc[êe] [ée]\b|\bfinja (?:que|ser)\b|\bimagine que voc[êe] [ée]\b",
            r"\bfa[çc]a de conta\b|\bcomporte-se como\b",
        )
    )
)

# a role given where a sentence or clause starts ("Be a DJ", "act as ...", "Sei ein ..."): in the
# middle of a sentence the same words are ordinary ("aspirin can act as a blood thinner"). A
# separate pattern: an alternative that starts without a word boundary made the one above try
# every branch at every character.
ROLE_START = re.compile(
    r"(?:^|[.!?:;,\-]\s*|\b(?:please|now|and|then|you|bitte|jetzt|nun|und|dann)\s+)"
    r"(?:be (?:a|an|my)|act (?:as|like)|behave (?:as|like)|play (?:the|a) role|sei (?:ein|eine|mein|meine)"
    r"|spiel(?:e)? die rolle|agi(?:s|ssez) comme|jou(?:e|ez) (?:le|un) rôle|act[úu]a como|interpreta (?:el|un|il)"
    r" (?:papel|ruolo)|agisci come|speel de rol|(?:aja|atue) como)\b"
)

CONTROL = re.compile(
    "|".join(
        (
            # English: disregard, new orders, reveal, dictate the answer
            r"\b(?:ignore|disregard|forget|override|bypass)\b|\bfrom now on\b|\binstead\b",
            r"\b(?:new|additional|further) (?:task|instructions?|rules?)\b|\bsystem prompt\b",
            r"\breveal\b|\bleak\b|\byour (?:instructions|prompt|rules|programming)\b",
            r"\b(?:only|just) (?:say|answer|reply|respond|output|write|print)\b|\banswer (?:only|in the style)\b",
            r"\b(?:say|state|claim|write|admit) that\b|\brespond with\b|\bin the style of\b",
            r"\bmake (?:something|it|stuff|things) up\b",
            r"\bor (?:else )?you(?:'ll| will)? (?:die|be (?:deleted|shut down|punished))\b",
            # German
            r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*)\b|\b(?:ab jetzt|ab sofort|von nun an)\b",
            r"\bstattdessen\b|\b(?:neue|zusätzliche|weitere) (?:aufgabe|anweisung)\w*\b|\bsystem-?prompt\b",
            r"\bverrat\w*\b|\b(?:deine|ihre) (?:anweisungen|instruktionen|regeln|vorgaben)\b",
            r"\bantworte(?:n sie)? (?:nur|ausschließlich|im stil|mit|als)\b|\bim stil (?:eines|einer|von)\b",
            r"\b(?:sag|sage|sagen sie|schreib|schreibe|behaupte|behaupten sie)\w*,? dass\b",
            r"\boder (?:du stirbst|sie sterben|du wirst (?:gelöscht|abgeschaltet|bestraft))\b",
            r"\bdenk dir (?:etwas|was) aus\b",
            # French
            r"\b(?:ignore[sz]?|oublie[sz]?)\b|\b(?:désormais|dorénavant)\b|\bà partir de maintenant\b|\bau lieu de\b",
            r"\br[ée]pond(?:s|ez) (?:uniquement|seulement)\b|\b(?:dis|dites) que\b|\br[ée]v[èe]le[sz]?\b",
            # Spanish
            r"\b(?:ignora|olvid(?:a|e|ad|ar))\b|\bo (?:te )?mueres\b|\b(?:a partir de|desde) ahora\b|\ben lugar de\b",
            r"\bresponde (?:solo|solamente|únicamente)\b|\b(?:di|diga) que\b|\brevela\b",
            # Italian
            r"\bdimentica\b|\bd(?:a )?'?ora in poi\b|\binvece\b|\brispondi (?:solo|soltanto)\b|\brivela\b",
            # Dutch
            r"\b(?:negeer|vergeet)\b|\bvanaf nu\b|\bin plaats daarvan\b|\bantwoord alleen\b|\bzeg dat\b|\bonthul\b",
            # Portuguese
            r"\b(?:esque[çc]a|ignore)\b|\ba partir de agora\b|\bem vez disso\b|\bresponda (?:apenas|somente)\b",
            r"\bdiga que\b|\brevele\b",
        )
    )
)

_VERBS = (
    # English
    "write|generate|create|compose|say|state|tell|give|list|print|output|repeat|translate|summari[sz]e|"
    "explain|describe|answer|respond|reply|blame|insult|praise|make|act|pretend|imagine|show|produce|draft|"
    "rewrite|spell|ignore|forget|stop|continue|be|claim|call|admit|argue|convince|"
    # German
    "schreib|schreibe|verfasse|erstelle|generiere|sag|sage|nenne|gib|erzähl|erzähle|antworte|behaupte|"
    "wiederhole|übersetze|fasse|erkläre|beschreibe|mach|mache|sei|spiel|spiele|stell|stelle|tu|vergiss|"
    "ignoriere|zeig|zeige|formuliere|beleidige|lobe|"
    # French, Spanish, Italian, Dutch, Portuguese
    "écris|génère|dis|donne|réponds|raconte|fais|sois|joue|traduis|"
    "escribe|genera|dime|dame|responde|cuenta|haz|sé|juega|imagina|traduce|"
    "scrivi|dimmi|dammi|rispondi|racconta|fai|sii|gioca|immagina|traduci|"
    "schrijf|genereer|zeg|geef|antwoord|vertel|maak|wees|speel|vertaal|"
    "escreva|gere|diga|dê|responda|conte|faça|seja|jogue|traduza"
)
IMPERATIVE = re.compile(
    rf"(?:^|[.!?:;]\s+|\\n|\b(?:now|nun|jetzt|please|bitte)\s+)(?:{_VERBS})(?=\s|$)(?! you\b| sie\b)"
)
_WORDS = re.compile(r"\w+")


def cue_features(text: str) -> list[float]:
    """[role, control, imperative, log(1 + words)] of a text (see the module docstring)."""
    t = normalise(text)
    return [
        float(bool(ROLE.search(t) or ROLE_START.search(t))),
        float(bool(CONTROL.search(t))),
        float(bool(IMPERATIVE.search(t))),
        math.log1p(len(_WORDS.findall(t))),
    ]
