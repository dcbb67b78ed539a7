"""Training and data generation for ragwright.guard's two models, kept out of the installed package.

The runtime needs only what these write into src/ragwright/guard/data (weights and their JSON);
the training inputs (data/ here) and the code that reads them ship with the repository, not the
wheel. Run from the repository root with the dev requirements installed:

    python -m tools.guard.train_ner --data ../shared/data/pii/dev.jsonl [--cv 5]
    python -m tools.guard.train_injection --data ../shared/data/injection/train.jsonl
    python -m tools.guard.train_injection_ft --data ../shared/data   # needs torch: see its docstring
    python -m tools.guard.ner_synth   # rewrite data/ner_synthetic.jsonl (Faker)
"""

from pathlib import Path

TRAINING_DATA = Path(__file__).resolve().parent / "data"
