"""lengthgen report: the summary table, figures and the self-contained HTML page, opened in
headless Chromium (skipped where Chromium is not installed; .ci/run installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from conftest import run_cli
from test_verdict import add_steps_tables, fabricate

from lengthgen.report import format_table, report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def sweep(tmp_path):
    root = fabricate(tmp_path / "study")
    broken = root / "broken_run"
    broken.mkdir()
    (broken / "failed.json").write_text(json.dumps({"reason": "non-finite loss (nan) at step 40 of seed 1"}))
    return root


def test_report_summarizes_every_configuration_and_lists_failed_runs(sweep):
    r = report(sweep)
    assert len(r.summary) == 8  # 4 tasks x 2 schemes
    row = r.summary.loc["position=randomized_rope, task=reverse_string"]
    assert row["test token acc"] == pytest.approx(0.71) and row.seeds == 3
    assert r.failed == [("broken_run", "non-finite loss (nan) at step 40 of seed 1")]
    page = r.html.read_text()
    assert page.count("data:image/png;base64,") == len(r.figures) == 3  # curves, per task, heatmap
    assert "position=randomized_rope, task=reverse_string" in page and "broken_run" in page
    assert "http://" not in page and "https://" not in page


def test_runs_with_attention_tables_get_the_attention_figure(sweep):
    add_steps_tables(sweep)
    r = report(sweep)
    assert [p.name for p in r.figures][-1] == "attention.png" and (sweep / "attention.png").stat().st_size > 0
    assert r.html.read_text().count("data:image/png;base64,") == 4


def test_runs_with_other_evaluation_sets_get_the_error_rate_figure(sweep):
    import pandas as pd

    for run in (p.parent for p in sweep.glob("*/curve.csv")):
        curve = pd.read_csv(run / "curve.csv")
        pd.concat([curve, curve[curve.length == 4].assign(eval_set="sparse")]).to_csv(run / "curve.csv", index=False)
    r = report(sweep)
    assert "error_rates.png" in [p.name for p in r.figures] and (sweep / "error_rates.png").stat().st_size > 0


def test_runs_differing_in_many_settings_are_labelled_by_directory(sweep):
    import yaml

    for i, run in enumerate(sorted(p.parent for p in sweep.glob("*/config.yaml"))):
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["model"] = {"layers": i, "d_model": 8 * i, "heads": i + 1}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    r = report(sweep)
    assert "run=reverse_string_rope" in r.summary.index


def test_printed_table_columns_line_up(sweep):
    lines = format_table(report(sweep).summary).splitlines()
    ends = {len(line) for line in lines}
    assert len(ends) == 1, lines  # every row as wide as the header: right-aligned columns line up
    assert re.search(r"0\.710 \[0\.\d{3}, 0\.\d{3}\]", "\n".join(lines))


def test_the_command_prints_and_writes_the_page(sweep):
    out = run_cli("lengthgen", "report", str(sweep))
    assert out.returncode == 0, out.stderr
    assert "failed: broken_run: non-finite loss" in out.stdout and (sweep / "report.html").exists()


def open_in_chromium(page, tmp_path):
    profile = tmp_path / "profile"
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                             "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120)
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    return result.stdout, console


def test_page_renders_in_headless_chromium_without_errors(sweep, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("LENGTHGEN_REQUIRE_CHROMIUM"):
            pytest.fail("Chromium is required (LENGTHGEN_REQUIRE_CHROMIUM) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    r = report(sweep)
    dom, console = open_in_chromium(r.html, tmp_path)
    assert 'data-loaded="ok"' in dom, dom[:500]
    assert console == []
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}",
                    "--window-size=1280,1600", r.html.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
    broken = tmp_path / "broken.html"
    broken.write_text(r.html.read_text().replace("base64,", "base64,AAAA", 1).replace("<script>", "<script>undefinedCall();", 1))
    dom, console = open_in_chromium(broken, tmp_path)
    assert 'data-loaded="broken"' in dom or 'data-loaded' not in dom
    assert any("undefinedCall" in line for line in console)
