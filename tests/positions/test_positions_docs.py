"""The registry, the listing and docs/positions.md agree."""

import tomllib
from importlib import metadata
from pathlib import Path

from lengthgen.cli import format_markdown, main, position_rows
from lengthgen.positions.base import PositionSpec
from lengthgen.registry import POSITIONS

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- generated: lengthgen list positions --markdown"


def test_every_registered_scheme_loads_under_its_own_name():
    assert POSITIONS.broken() == {}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lengthgen.positions"]
    assert set(declared) <= set(POSITIONS.names())
    for name in declared:
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


def test_docs_table_is_the_generated_markdown(capsys):
    main(["list", "positions", "--markdown"])
    assert capsys.readouterr().out.strip() == format_markdown(position_rows())
    installed = {ep.name for ep in metadata.entry_points(group="lengthgen.positions")}
    generated = format_markdown([row for row in position_rows() if row["name"] in installed]) + "\n"
    text = (ROOT / "docs" / "positions.md").read_text()
    head, marker, table = text.partition(MARKER)
    assert marker, "docs/positions.md lost its generated-table marker"
    assert table.split("\n", 1)[1] == generated, (
        "docs/positions.md is stale: regenerate the table with `lengthgen list positions --markdown`")


def test_markdown_rows_keep_their_columns():
    for line in format_markdown(position_rows()).splitlines():
        assert line.replace("\\|", "").count("|") == 7, line
