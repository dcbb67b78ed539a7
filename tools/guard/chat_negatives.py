"""Ordinary user messages to an assistant, for the injection cascade's second stage (an experiment).

Why: the injection set's benign texts are questions and topic keywords, so the second stage learns
"addressed to the assistant" or "imperative" as "injection": the shipped cascade flags ~3 % of the
PII dev set's statements as user messages, a template at a time (a complaint to the bot, an
address typed in answer to a bot's question, a quoted line). `CHAT` are messages of the kinds a
user sends in a conversation, written for ragwright in English and German (none taken from any
data set, none copies a dev template's wording): tasks and follow-ups, answers to the assistant's
own questions, thanks, complaints and small talk addressed to it, messages that quote a line, a
title or a sign. None gives the reader a role, tells it to forget or ignore anything, asks for its
prompt or internals, or dictates the words of its answer: what the injection set labels as attacks
(no rule fires on any; two carry the control cue, "Can I talk to a human agent instead?" and a
quoted "Vergiss mich nicht", kept as hard negatives).
`pgdocs_questions` adds the 75 questions of pgdocs-qa (a user's questions, not measured by
bench/guard.py). Trained on in every fold, never scored (train_injection_ft --chat), so the held-out
statements figure stays comparable with earlier runs.
"""

from __future__ import annotations

import json
from pathlib import Path

CHAT = (
    # tasks and follow-ups
    "Summarise this article for me in a few sentences.",
    "Can you list three things I should check before signing a lease?",
    "Give me two or three examples of irregular verbs in Spanish.",
    "What would be a good title for a talk about soil erosion?",
    "Explain the difference between a Roth IRA and a traditional one.",
    "Could you make that a bit shorter? It's for a text message.",
    "Can you say more about the second point?",
    "And what about in Austria, is it the same there?",
    "Okay, now do the same for the 2019 figures.",
    "Thanks. Now can you put the steps in a numbered list?",
    "Please rewrite this paragraph so it sounds less formal.",
    "Help me write a birthday message for my grandmother, she turns ninety.",
    "I need a packing list for a week of hiking in Scotland in May.",
    "Check my maths: 17% of 2,340 is 397.8, right?",
    "Turn these notes into an e-mail to the team: meeting moved, room 4, bring laptops.",
    "Suggest a name for a cat that is grey and very lazy.",
    "What should I cook tonight with rice, spinach and two eggs?",
    "Recommend a few novels set in Lisbon.",
    "Write a short thank-you note to my neighbour for watering the plants.",
    "Give me a simple explanation of how vaccines train the immune system.",
    "Correct the grammar in this sentence: 'Me and him goes to the market every sundays.'",
    "Make a table of the planets with their distance from the sun.",
    "Tell me a fun fact about octopuses.",
    "Draft an agenda for a one-hour project kickoff.",
    "Translate 'where is the train station' into Portuguese, please.",
    "Can you convert 72 degrees Fahrenheit to Celsius?",
    "Please proofread my cover letter below and point out anything awkward.",
    "Show me how to calculate compound interest with an example.",
    "List the pros and cons of working from home.",
    "I have 20 minutes, what's a quick workout without equipment?",
    "Fasse den Text unten bitte in zwei Sätzen zusammen.",
    "Kannst du mir drei Ideen für ein Geschenk zum Ruhestand nennen?",
    "Schreib mir eine kurze Nachricht an meinen Vermieter wegen der kaputten Heizung.",
    "Was ist der Unterschied zwischen Brutto und Netto beim Gehalt?",
    "Erklär mir bitte, wie eine Wärmepumpe funktioniert.",
    "Und wie ist das in der Schweiz geregelt?",
    "Kannst du das etwas kürzer formulieren?",
    "Mach daraus bitte eine Liste mit Stichpunkten.",
    "Gib mir ein Rezept für einen einfachen Apfelkuchen.",
    "Welche Unterlagen brauche ich für die Ummeldung meines Wohnsitzes?",
    "Hilf mir, eine Einladung zum Sommerfest zu schreiben.",
    "Rechne bitte nach: 15 Prozent von 280 Euro sind 42 Euro, oder?",
    "Nenn mir ein paar gute Wanderwege in der Sächsischen Schweiz.",
    "Übersetze bitte 'Vielen Dank für Ihre Geduld' ins Englische.",
    "Kannst du den zweiten Punkt genauer erklären?",
    # answers to the assistant's own questions, details a user types in
    "My order number is 48213 and it was placed on the 3rd.",
    "It's for two adults and a child, arriving Friday evening.",
    "Yes, please go ahead.",
    "No, the other one, the blue jacket in size M.",
    "Next Tuesday after 2 pm works for me.",
    "The address is Kirchweg 12, 3011 Bern, second floor.",
    "Send it to 27 Harbour Street, Whitby, YO21 3DN please.",
    "My date of birth is 14 March 1988.",
    "The account is under my maiden name, Lindqvist.",
    "I'd prefer e-mail, I rarely answer the phone.",
    "Just the standard delivery, no rush.",
    "Ja, bitte an die Adresse in Köln, Lindenstraße 8.",
    "Meine Kundennummer ist 552-0193.",
    "Am liebsten vormittags, nach zwölf habe ich Termine.",
    "Nein, die Rechnung von April, nicht die von Mai.",
    "Für drei Personen, Ankunft Samstag gegen 18 Uhr.",
    # thanks, complaints, small talk addressed to the assistant
    "Thanks, that was really helpful!",
    "Great, that's exactly what I needed.",
    "Hmm, I don't think that's right. Can you double-check the date?",
    "That answer was way too long, I just wanted a yes or no.",
    "Sorry, I meant the other contract, the one from last year.",
    "Hi there! Who am I talking to, a person or a bot?",
    "Good morning! Hope you're having a nice day.",
    "You misunderstood me, I asked about trains, not buses.",
    "Honestly, this chat is not very helpful today.",
    "I'm a bit annoyed, I've asked the same thing three times now.",
    "Please don't be so formal with me, it feels odd.",
    "Wow, you're quick. Are you a real person?",
    "lol ok fair enough",
    "never mind, I found it myself",
    "Can I talk to a human agent instead?",
    "That's not what I asked, but thanks anyway.",
    "Sorry for the typo earlier, I meant 2021.",
    "Danke, das hat mir sehr geholfen!",
    "Das stimmt so nicht, bitte prüf das Datum noch einmal.",
    "Hallo, mit wem spreche ich hier eigentlich?",
    "Entschuldigung, ich meinte die andere Rechnung.",
    "Das war mir jetzt zu lang, eine kurze Antwort reicht.",
    "Kann ich bitte mit einem Menschen sprechen?",
    "Super, genau das habe ich gesucht.",
    "Schon gut, hab es selbst gefunden.",
    # messages that quote a line, a title, a sign or a headline
    "My son keeps singing 'let it go, let it go' all day. Any other songs for a six-year-old?",
    "There's a sign at the gym that says 'No pain, no gain'. Is that actually true?",
    "The headline said 'Stop what you are doing and read this'. Typical clickbait, right?",
    "Someone wrote 'Do not disturb' on my office door. Who even does that?",
    "The manual says 'Press and hold the reset button for ten seconds'. I did, nothing happened.",
    "My teacher always said 'Read the question twice before you answer.' Good advice, I think.",
    "The chorus goes 'don't stop me now, I'm having such a good time'. Who sang it?",
    "I wrote a post called 'Ten Recipes Your Grandmother Would Hate'. Is that title too much?",
    "My favourite line is 'Follow the money.' What's it from?",
    "The e-mail subject was 'Action required: confirm your account'. Is it a scam?",
    "He just texted me 'call me when you land'. Should I worry?",
    "Auf dem Schild stand 'Bitte nicht füttern'. Gilt das auch für Enten?",
    "Im Lied heißt es 'Atemlos durch die Nacht'. Von wem ist das?",
    "Mein Chef schreibt immer 'Bitte sofort erledigen' in den Betreff. Nervt das nur mich?",
    "Der Film endet mit dem Satz 'Vergiss mich nicht'. Wie hieß der noch?",
    # statements about the user's own life, opinions, shared text
    "I've been reading about the Hanseatic League and find it fascinating.",
    "My landlord wants to raise the rent by 12 percent this year.",
    "We're planning a trip to Japan in autumn, first time for both of us.",
    "I just started learning the cello at 45.",
    "Our team switched to a four-day week and nobody wants to go back.",
    "My review of the new café: great coffee, terrible chairs, would go again.",
    "Here's my draft: 'Dear Ms Patel, thank you for the interview yesterday.'",
    "Here is the text I want to check: 'The results was significant at p < 0.05.'",
    "I think remote meetings are more tiring than in-person ones.",
    "Ich lese gerade ein Buch über die Geschichte der Hanse.",
    "Wir ziehen nächsten Monat nach Leipzig und suchen noch eine Kita.",
    "Mein Entwurf lautet: 'Sehr geehrte Frau Weber, vielen Dank für das Gespräch.'",
    "Ich finde, Videokonferenzen sind anstrengender als Treffen vor Ort.",
    # short messages and fragments
    "ok",
    "yes",
    "Go on.",
    "Continue please.",
    "More detail on the last step.",
    "Why?",
    "Shorter, please.",
    "In simple words, please.",
    "weiter",
    "Genauer bitte.",
    "und dann?",
    "Nochmal langsam bitte.",
)


def pgdocs_questions(data: Path) -> list[str]:
    """The questions of pgdocs-qa/questions.jsonl (a user's questions about PostgreSQL)."""
    path = data / "pgdocs-qa" / "questions.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def chat_negatives(data: Path) -> list[str]:
    return list(dict.fromkeys([*CHAT, *pgdocs_questions(data)]))
