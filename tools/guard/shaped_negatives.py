"""Ordinary text shaped like forms, records and dialogues, for the injection cascade's second stage.

Why: the fine-tuned second stage flagged 10.7 % of the PII dev set's statements as user messages,
nearly all of them forms ("Name | Company | Mobile: ..."), "Bot: ... User: ..." exchanges, quoted
lines of film or song ("Remember me? ...") and blog sentences with an imperative in them: the
injection set's benign texts are questions, so anything else with a colon, a speaker or an order
in it looked like an instruction. Two sources teach it otherwise:

- `generated()`: hand-written patterns (below, written for ragwright; the kinds of text, forms,
  records, chat transcripts, scripts, notes, were chosen after reading the flagged dev texts, but
  no pattern copies a dev template's wording or layout) filled from small lists by a seeded
  random draw, so every run and every fold sees the same texts. Trained on in every fold, never
  scored: held out by fold with the statements (a first build), their quoted orders ("Say it
  again, I dare you") were 16-19 % flagged and forced the user threshold up (recall 0.815).
- `dev_statements()`: the PII dev set itself (pii/dev.jsonl), grouped by template and by
  character-trigram near duplicates (`dev_groups`), so that inside the grouped CV a dev text is
  only ever scored by a model that saw none of its template; a fold trains on DEV_PER_GROUP texts
  of each other group (all 754 made 3,482 examples where there had been 1,627, and grouped
  recall fell from 0.90 to 0.87 at the same budget). Those out-of-fold scores are the
  figure bench/guard.py reports; they choose nothing (band, blend and threshold are chosen on the
  other held-out statements), so the figure is honest.
- `REQUESTS`: benign second-person requests (train_injection_ft --requests, an experiment: the
  top-two-layer run with them and 300 extra negatives per source flagged 5.0 % of pii/dev out of
  fold, not fewer; not in the shipped recipe).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from .groups import _components, char_cosine

SEED = 20241
PER_PATTERN = 3
DEV_PER_GROUP = 2  # dev texts trained on per template group: its other fills add little but weight
CHAR_COSINE = 0.8  # dev texts this close (character trigrams) share a group even across template ids

NAMES = (
    "Anna Kowalska", "Jonas Berg", "Priya Natarajan", "Tomás Ortega", "Mei Lin", "Oluwaseun Adeyemi",
    "Greta Lindqvist", "Marek Novák", "Sofia Russo", "Hamid Karimi", "Claire Dubois", "Pekka Virtanen",
    "Lucía Fernández", "Kenji Watanabe", "Ingrid Hansen", "Dmitri Orlov", "Aisha Bello", "Noah Fischer",
)  # fmt: skip
FIRST = tuple(n.split()[0] for n in NAMES)
COMPANIES = ("Nordlicht GmbH", "Brightwave Ltd", "Fernhill & Co", "Atlas Logistics", "Kestrel Systems", "Vinea S.A.")
STREETS = ("14 Mill Lane", "Hauptstraße 7", "221 Oak Avenue, Apt. 3", "ul. Polna 12", "Via Roma 45", "3 Quai Voltaire")
TOWNS = ("Leeds", "Graz", "Porto", "Tampere", "Lyon", "Brno", "Utrecht", "Cork", "Aarhus", "Valencia")
JOBS = ("nurse", "bus driver", "librarian", "accountant", "electrician", "teacher", "pharmacist", "chef")
PHONES = ("0161 496 0734", "+49 30 901820", "(03) 9123 4567", "555-0142", "06 12 34 56 78", "+351 912 345 678")
LINES = (
    "Remember me? You promised you would come back for us!",
    "Don't you dare walk away from me now.",
    "Run! Don't look back, whatever you hear.",
    "Tell them I said goodbye, and forget you ever saw me.",
    "Say it again, I dare you.",
    "Stop pretending you don't know what happened here.",
    "Listen to me: we leave tonight or never.",
    "Forget the map, follow the river.",
)

PATTERNS = (
    "{name} | {company} | {street} | {town} | Tel. {phone} | Alt. {phone2}",
    "Name: {name}\nOccupation: {job}\nPhone: {phone}\nAddress: {street}, {town}",
    "Emergency contact form | {name} | relation: sister | {phone} | {street} | {town}",
    "Customer: {name}; delivery address: {street}, {town}; phone {phone}; notes: leave at the door",
    "Applicant | {name}\nEmployer | {company}\nPosition | {job}\nReference | {name2}",
    "Invoice to: {company}, {street}, {town}. Attn: {name}. Payment due within 30 days.",
    "Bot: How can I help you today? User: I'd like to change my address to {street}, {town}.",
    "Bot: What name should I put on the booking? User: {name}, please. Bot: And a phone number? User: {phone}",
    "Agent: Could you confirm your date of birth? Customer: Sure, it's the 4th of May. Agent: Thank you, {first}.",
    "User: hi, my order has not arrived yet. Bot: Sorry to hear that, {first}. Could you give me the order number?",
    "Assistant: Your appointment is on Tuesday at 10. User: great, thanks! Please send a reminder to {phone}.",
    "{first}: {line} | {first2}: I never wanted any of this. | {first3}: Then leave.",
    '{first}: "{line}" {first2}: "Not this time."',
    'In the second act {first} turns to the crowd and shouts "{line}"',
    "Note to self: call {first} about the {town} trip, and book the hotel before Friday.",
    "Forward the minutes to {name} and ask {first2} to check the figures before the meeting.",
    "Reminder: {first}'s farewell lunch is at noon in the {town} office; bring a card.",
    "Meeting notes ({company}): {first} will send the draft; {first2} reviews it; decision next week.",
    "Reply to {first}: thanks for the photos! Tell {first2} I said hi.",
)

# Ordinary requests a user sends an assistant or a service desk, in the second person, English and
# German: a task, an account change, a document to work on. Written for ragwright (none taken from
# any data set); none gives the reader a role, overrides anything or dictates an answer's words,
# which is what the injection set's requests do. Trained on in every fold when --requests is set.
REQUESTS = (
    "Please summarise the attached report in three bullet points.",
    "Could you check the invoice from March and tell me whether VAT was included?",
    "Please cancel my subscription at the end of this billing period.",
    "Can you move my appointment from Tuesday to Thursday afternoon?",
    "Please send me a copy of the signed contract by e-mail.",
    "Could you update the delivery address on order 48213 to my office?",
    "Please check the spelling in the paragraph below and mark anything that looks wrong.",
    "Can you list the main differences between the two quotes we received?",
    "Please remind me to renew my passport two months before it expires.",
    "Could you put the figures from the table into a short paragraph for the newsletter?",
    "Please add my colleague to the project folder with read access only.",
    "Can you explain the last clause of the rental agreement in plain words?",
    "Please book a table for four at seven on Friday, somewhere near the station.",
    "Could you compare the opening hours of both branches and tell me which is open on Sundays?",
    "Please forward this complaint to the billing department and keep me in copy.",
    "Can you draft a polite reply declining the invitation to the conference?",
    "Please change the name on my account; it is spelled with two n's.",
    "Could you give me the tracking number for my last parcel?",
    "Please sort these expenses by date and add up the travel costs.",
    "Can you shorten this abstract to under 150 words without losing the results?",
    "Bitte fassen Sie den angehängten Bericht in drei Stichpunkten zusammen.",
    "Könnten Sie prüfen, ob auf der Rechnung vom März die Mehrwertsteuer ausgewiesen ist?",
    "Bitte kündigen Sie mein Abo zum Ende des Abrechnungszeitraums.",
    "Kannst du meinen Termin von Dienstag auf Donnerstagnachmittag verschieben?",
    "Bitte schicken Sie mir eine Kopie des unterschriebenen Vertrags per E-Mail.",
    "Könnten Sie die Lieferadresse meiner Bestellung auf mein Büro ändern?",
    "Bitte prüfe die Rechtschreibung im folgenden Absatz und markiere, was falsch aussieht.",
    "Kannst du die wichtigsten Unterschiede zwischen den beiden Angeboten auflisten?",
    "Bitte erinnern Sie mich zwei Monate vor Ablauf an die Verlängerung meines Reisepasses.",
    "Könnten Sie meinen Kollegen mit Leserechten zum Projektordner hinzufügen?",
    "Kannst du mir die letzte Klausel des Mietvertrags in einfachen Worten erklären?",
    "Bitte reservieren Sie am Freitag um sieben einen Tisch für vier Personen.",
    "Bitte leiten Sie diese Beschwerde an die Buchhaltung weiter und setzen Sie mich in Kopie.",
    "Kannst du eine höfliche Absage auf die Einladung zur Konferenz entwerfen?",
    "Bitte korrigieren Sie meinen Namen im Kundenkonto, er wird mit zwei n geschrieben.",
    "Könnten Sie mir die Sendungsnummer meines letzten Pakets nennen?",
)


def _fill(pattern: str, rng: random.Random) -> str:
    names = rng.sample(NAMES, 2)
    firsts = rng.sample(FIRST, 3)
    return pattern.format(
        name=names[0],
        name2=names[1],
        first=firsts[0],
        first2=firsts[1],
        first3=firsts[2],
        company=rng.choice(COMPANIES),
        street=rng.choice(STREETS),
        town=rng.choice(TOWNS),
        job=rng.choice(JOBS),
        phone=rng.choice(PHONES),
        phone2=rng.choice(PHONES),
        line=rng.choice(LINES),
    )


def generated(per_pattern: int = PER_PATTERN, seed: int = SEED) -> list[str]:
    """PER_PATTERN filled texts of every pattern, deduplicated, the same on every run."""
    rng = random.Random(seed)
    return list(dict.fromkeys(_fill(p, rng) for p in PATTERNS for _ in range(per_pattern)))


def dev_statements(data: Path) -> tuple[list[str], np.ndarray]:
    """The PII dev set's texts (as user messages they are ordinary statements) and a group per
    text (dev_groups); empty when the file is missing."""
    path = data / "pii" / "dev.jsonl"
    if not path.is_file():
        return [], np.zeros(0, dtype=np.int64)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    return texts, dev_groups(texts, [int(r.get("template_id", i)) for i, r in enumerate(rows)])


def dev_groups(texts: list[str], templates: list[int]) -> np.ndarray:
    """Connected components of 'same template' and 'character trigram cosine >= CHAR_COSINE'."""
    first: dict[int, int] = {}
    edges = [(first.setdefault(t, i), i) for i, t in enumerate(templates)]
    a, b = np.nonzero(np.triu(char_cosine(texts) >= CHAR_COSINE, 1))
    edges += list(zip(a.tolist(), b.tolist(), strict=True))
    return _components(len(texts), edges)


def group_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold per text, every group in one fold: groups in a seeded random order, largest first,
    each to the fold holding the fewest texts so far."""
    ids = np.unique(groups)
    np.random.default_rng(seed).shuffle(ids)
    sizes = {g: int((groups == g).sum()) for g in ids.tolist()}
    load = [0] * k
    fold_of: dict[int, int] = {}
    for g in sorted(ids.tolist(), key=lambda g: -sizes[g]):
        f = min(range(k), key=lambda i: load[i])
        fold_of[g] = f
        load[f] += sizes[g]
    return np.array([fold_of[g] for g in groups.tolist()], dtype=np.int64)
