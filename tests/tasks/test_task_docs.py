"""The task listing (`lengthgen list tasks`, and docs/tasks.md through `lengthgen docs`)."""

from lengthgen.cli import task_rows
from lengthgen.registry import TASKS


def test_table_lists_every_task_with_level_vocab_length_and_chance():
    rows = {r["name"]: r for r in task_rows()}
    assert sorted(rows) == TASKS.names() and TASKS.broken() == {}
    assert [r["name"] for r in task_rows(builtin=True)] == [n for n in TASKS.names()
                                                            if TASKS.origin(n) == f"lengthgen_tasks.{n}"]
    levels = {"even_pairs": "regular", "modular_arithmetic": "regular", "parity_check": "regular",
              "cycle_navigation": "regular", "stack_manipulation": "DCF", "reverse_string": "DCF",
              "modular_arithmetic_brackets": "DCF", "solve_equation": "DCF", "duplicate_string": "CS",
              "missing_duplicate_string": "CS", "odds_first": "CS", "binary_addition": "CS",
              "binary_multiplication": "CS", "compute_sqrt": "CS", "bucket_sort": "CS"}
    assert {name: rows[name]["family"] for name in levels} == levels
    for row in rows.values():
        assert int(row["vocab"]) >= 2 and row["length"]
        assert 0.0 < float(row["chance"]) <= 1.0

