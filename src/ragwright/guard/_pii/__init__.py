"""The PII detector's tuned recognizers (guard/pii.py holds the detector and its public names):
what they match, as plain regular expressions and word lists (patterns.py, cheap to import), and
the Presidio recognizer classes built on them (recognizers.py, imported on the first scan, since
importing Presidio and spaCy costs about a second)."""
