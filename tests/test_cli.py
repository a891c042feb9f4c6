"""`lengthgen docs`: the catalogue pages are the registry's tables, checked by `--check` (as CI does)."""

import shutil

import pytest

from conftest import ROOT
from lengthgen.cli import GENERATED, main


def test_repository_catalogue_is_current(capsys):
    main(["docs", "--check", "--dir", str(ROOT / "docs")])
    assert capsys.readouterr().err == ""


def test_check_finds_a_stale_page_and_docs_rewrites_only_the_table(tmp_path, capsys):
    shutil.copytree(ROOT / "docs", tmp_path, dirs_exist_ok=True)
    tasks, positions = tmp_path / "tasks.md", tmp_path / "positions.md"
    intro = positions.read_text().partition(GENERATED)[0]
    assert "## How schemes plug in" in intro
    tasks.write_text(tasks.read_text().replace("| copy |", "| kopy |"))
    positions.write_text(positions.read_text().replace("Select a scheme", "Pick a scheme"))
    with pytest.raises(SystemExit) as info:
        main(["docs", "--check", "--dir", str(tmp_path)])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err == f"lengthgen: error: {tasks} stale: regenerate with `lengthgen docs`"

    main(["docs", "--dir", str(tmp_path)])
    assert capsys.readouterr().out.strip() == f"wrote {tasks}"
    assert "| copy |" in tasks.read_text() and "| kopy |" not in tasks.read_text()
    assert positions.read_text().startswith(intro.replace("Select a scheme", "Pick a scheme"))
    main(["docs", "--check", "--dir", str(tmp_path)])
