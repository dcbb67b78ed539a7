"""Attack: a filter field with a trailing newline ("source\n") passed the field check, which
used `re.match` with `$` (it also matches before a final newline): on both backends it became
the column `d.source` matched against the server path, unwrapped by the API's ShownSource (which
looks for "source"), an online oracle for guessed data dirs; "tenant\n" passed the API's tenant
check the same way. A field name is the whole name or nothing, and no control character."""

from __future__ import annotations

import pytest

from ragwright.store import sql
from ragwright.store.postgres import filters as pg_filters

SPELLINGS = ["source\n", "tenant\n", "doc_id\n", "metadata.year\n", "title\n", "format\n"]


@pytest.mark.parametrize("build", [sql.filter_sql, pg_filters.filter_sql], ids=["sqlite", "postgres"])
@pytest.mark.parametrize("field", SPELLINGS)
def test_a_field_name_with_a_trailing_newline_is_no_field(build, field):
    with pytest.raises(ValueError):
        build({field: "/srv/ragwright/uploads/x/y/notes.md"})


@pytest.mark.parametrize("field", ["source\t", "so\x00urce", "source\u2028"])
def test_control_characters_in_a_field_name_are_refused_by_the_bounds_check(field):
    with pytest.raises(ValueError, match="control character"):
        sql.check_filter_bounds({field: "x"})  # the API's 422, before the store


def test_the_real_field_names_still_filter():
    for build in (sql.filter_sql, pg_filters.filter_sql):
        assert "d.source" in build({"source": "a.md"})[0] and "d.tenant" in build({"tenant": "acme"})[0]
