"""The settings' private parts; ragwright/config.py is their public face and re-exports them.

- sections.py: one model per TOML section ([ingest], [answer], [models.NAME], ...): what each
  key means and allows
- template.py: the commented ragwright.toml that `ragwright init` writes
"""
