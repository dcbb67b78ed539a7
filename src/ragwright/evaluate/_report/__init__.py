"""The evaluation report's parts (evaluate/report.py renders the page from them): runs.py reads
the runs safely and escapes, charts.py draws the SVG charts, cases.py lists the worst queries."""
