"""The name tagger's parts (guard/ner.py holds the tagger and its public names): the features it
reads of each token (features.py) and the rules that shape its tag runs into the spans Presidio and
the PII data set draw (spans.py). Split so that each can be read, and tested, on its own."""
