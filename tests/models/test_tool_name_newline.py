"""A tool name was checked by `re.match` with `$`, which also matches before a final newline:
"search_documents\n" passed as a valid name (the filter field bug's twin, models/tools.py)."""

from __future__ import annotations

import pytest

from ragwright.errors import ConfigError
from ragwright.models.tools import Tool


def test_a_tool_name_with_a_trailing_newline_is_refused():
    with pytest.raises(ConfigError):
        Tool(name="search_documents\n")
    assert Tool(name="search_documents").name == "search_documents"
