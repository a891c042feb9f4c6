"""docs/tasks.md is the output of `lengthgen list tasks --markdown`, so it cannot drift."""

from conftest import ROOT
from lengthgen.cli import format_markdown, task_rows
from lengthgen.registry import TASKS


def test_docs_table_is_generated_output():
    expected = format_markdown(task_rows()) + "\n"
    actual = (ROOT / "docs" / "tasks.md").read_text()
    assert actual == expected, "docs/tasks.md is stale: run `lengthgen list tasks --markdown > docs/tasks.md`"


def test_table_lists_every_task_with_level_vocab_length_and_chance():
    rows = {r["name"]: r for r in task_rows()}
    assert sorted(rows) == TASKS.names()
    levels = {"even_pairs": "regular", "modular_arithmetic": "regular", "parity_check": "regular",
              "cycle_navigation": "regular", "stack_manipulation": "DCF", "reverse_string": "DCF",
              "modular_arithmetic_brackets": "DCF", "solve_equation": "DCF", "duplicate_string": "CS",
              "missing_duplicate_string": "CS", "odds_first": "CS", "binary_addition": "CS",
              "binary_multiplication": "CS", "compute_sqrt": "CS", "bucket_sort": "CS"}
    assert {name: rows[name]["family"] for name in levels} == levels
    for row in rows.values():
        assert int(row["vocab"]) >= 2 and row["length"]
        assert 0.0 < float(row["chance"]) <= 1.0

