"""The registry and the scheme listing (`lengthgen list positions`, docs/positions.md) agree."""

from _position_helpers import ALL
from lengthgen.cli import format_markdown, main, position_rows
from lengthgen.positions.base import PositionSpec
from lengthgen.registry import POSITIONS


def test_every_builtin_scheme_loads_under_its_own_name():
    assert POSITIONS.broken() == {}
    assert len(ALL) >= 33 and [r["name"] for r in position_rows(builtin=True)] == ALL
    for name in ALL:
        spec = POSITIONS.get(name)
        assert isinstance(spec, PositionSpec) and spec.name == name
        assert spec.family in ("none", "absolute", "rotary", "relative")


def test_listing_shows_name_family_formula_parameters_paper(capsys):
    main(["list", "positions"])
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:5] == ["name", "family", "formula", "parameters", "paper"]
    for row in position_rows():
        assert row["name"] in out and row["formula"] and row["paper"]


def test_markdown_listing_is_the_table(capsys):
    main(["list", "positions", "--markdown"])
    assert capsys.readouterr().out.strip() == format_markdown(position_rows())


def test_markdown_rows_keep_their_columns():
    for line in format_markdown(position_rows()).splitlines():
        assert line.replace("\\|", "").count("|") == 7, line
