"""Process-wide JAX settings (`lengthgen.runtime`): where the compilation cache goes, and the
count of programs built and loaded."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from lengthgen.runtime import CompileCounter, enable_compilation_cache, progress_bar


@pytest.mark.parametrize("value", ["off", "OFF", "none", "0", ""])
def test_cache_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv("LENGTHGEN_CACHE_DIR", value)
    assert enable_compilation_cache() is None


def test_cache_folder_is_created_and_given_to_jax(monkeypatch, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    folder = tmp_path / "deep" / "xla"
    monkeypatch.setenv("LENGTHGEN_CACHE_DIR", str(folder))
    try:
        assert enable_compilation_cache() == str(folder)
        assert folder.is_dir() and jax.config.jax_compilation_cache_dir == str(folder)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_an_unusable_cache_folder_disables_the_cache(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("LENGTHGEN_CACHE_DIR", str(tmp_path / "file" / "xla"))
    assert enable_compilation_cache() is None


def test_counter_counts_a_new_program_once():
    counter = CompileCounter.get()
    assert CompileCounter.get() is counter
    x = jnp.ones(3).block_until_ready()
    before = counter.totals()
    scale = float(before[0] + 2.5)  # a constant no other test compiles: a new program
    f = jax.jit(lambda x: jnp.sin(x) * scale)
    f(x).block_until_ready()
    f(x).block_until_ready()
    built = counter.since(before)
    assert built["compiled_programs"] + built["loaded_programs"] == 1
    assert built["compile_seconds"] > 0
    again = counter.totals()
    f(x).block_until_ready()
    assert counter.since(again) == {"compiled_programs": 0, "loaded_programs": 0, "compile_seconds": 0.0}


@pytest.mark.parametrize("enabled", [True, False])
def test_progress_bar_writes_to_stderr_only_when_enabled(capsys, enabled):
    with progress_bar(10, "training steps", enabled=enabled) as bar:
        bar.update(4)
    out, err = capsys.readouterr()
    assert out == "" and ("training steps" in err) == enabled
