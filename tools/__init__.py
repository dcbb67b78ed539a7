"""Development tools that are not part of the installed ragwright package (run from a checkout)."""
