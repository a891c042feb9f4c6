"""`lengthgen-train`: the Hydra entry point.

Before Hydra launches anything, every configuration of the sweep (command-line
sweeps and `hydra.sweeper.params` alike) is composed and fully validated, so
bad input costs one line and no compilation. Set LENGTHGEN_DEBUG=1 for
tracebacks.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
from pathlib import Path
from typing import Any

from lengthgen.errors import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
MAX_VALIDATED = 512
GROUPS = {"task": "TASKS", "position": "POSITIONS", "model": "MODELS"}

log = logging.getLogger("lengthgen")


def register_configs() -> None:
    """Store the schema and one group option per registered task/position/model in Hydra's ConfigStore.

    Names that have a YAML file in configs/<group>/ use the file instead, so
    plugin tasks and schemes are selectable (`task=NAME`) with no file of ours.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from lengthgen import registry
    from lengthgen.config import RunConfig

    cs = ConfigStore.instance()
    schema = OmegaConf.structured(RunConfig)
    for key in [None, *schema]:  # frozen dataclasses give read-only nodes; Hydra must merge into them
        node = schema if key is None else schema._get_node(key)
        if OmegaConf.is_config(node):
            OmegaConf.set_readonly(node, False)
    cs.store(name="schema", node=schema)
    for group, table in GROUPS.items():
        table = getattr(registry, table)
        for name, obj in table.items():
            if (Path(CONFIG_DIR) / group / f"{name}.yaml").exists():
                continue
            if group == "model":
                node = {"kind": name}
            else:
                node = {"name": name, **dataclasses.asdict(obj.Options())}
            cs.store(group=group, name=name, node=node)


def group_choices(group: str) -> list[str]:
    from lengthgen import registry

    names = set(getattr(registry, GROUPS[group]).names())
    names |= {p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml")}
    return sorted(names)


def _overrides(argv: list[str]) -> list[str] | None:
    """The key=value overrides of argv, or None when Hydra is asked for something other than a run."""
    if any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion", "-sc") for a in argv):
        return None
    return [a for a in argv if "=" in a and not a.startswith("-")]


def sweep_combinations(argv_overrides: list[str]) -> list[list[str]]:
    """Every concrete override list of the sweep (argv sweeps x hydra.sweeper.params)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(argv_overrides)
    dims: dict[str, list[str]] = {}
    fixed: list[str] = []
    for o in parsed:
        if o.is_sweep_override():
            dims[o.get_key_element()] = [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        else:
            fixed.append(o.input_line)
    first = fixed + [values[0] for values in dims.values()]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=first, return_hydra_config=True)
    for key, value in (cfg.hydra.sweeper.get("params") or {}).items():
        if key not in dims and not any(f.split("=")[0].lstrip("+~") == key for f in fixed):
            sweep = parser.parse_overrides([f"{key}={value}"])[0]
            values = list(sweep.sweep_string_iterator()) if sweep.is_sweep_override() else [str(value)]
            dims[key] = [f"{key}={v}" for v in values]
    combos = [fixed + list(c) for c in itertools.product(*dims.values())] if dims else [fixed]
    return combos


def check_names(overrides: list[str]) -> None:
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.lstrip("+~")
        if key in GROUPS:
            valid = group_choices(key)
            for name in value.split(","):
                name = name.strip()
                if name and name not in valid:
                    raise ConfigError(f"unknown {key} '{name}'; valid: {', '.join(valid)}")


def validate_argv(argv: list[str]) -> int:
    """Compose and validate every configuration the command would run; returns how many."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from lengthgen.build import build
    from lengthgen.config import RunConfig

    overrides = _overrides(argv)
    if overrides is None:
        return 0
    check_names(overrides)
    try:
        combos = sweep_combinations(overrides)
        for combo in combos[:MAX_VALIDATED]:
            check_names(combo)
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                cfg = compose("config", overrides=[o for o in combo if not o.lstrip("+~").startswith("hydra")])
            build(RunConfig.from_dict(OmegaConf.to_container(cfg, resolve=True)))
    except ConfigError:
        raise
    except Exception as exc:  # Hydra/OmegaConf composition errors: keep their first line
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        raise ConfigError(one_line(exc)) from None
    return len(combos)


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = "; ".join(lines[:2]) if lines else type(exc).__name__
    return text.replace("\n", " ")


def limit_threads(threads: int, job_num: int) -> None:
    """Cap this process's XLA CPU threads (before the backend starts) by pinning it to `threads` cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores or threads <= 0 or threads >= len(cores):
        return
    slot = job_num % max(1, len(cores) // threads)
    os.sched_setaffinity(0, cores[slot * threads:(slot + 1) * threads])
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()


def worker_threads(requested: int) -> int:
    """Threads per job: as configured, or cores / parallel jobs under the joblib launcher."""
    from hydra.core.hydra_config import HydraConfig

    if requested:
        return requested
    launcher = HydraConfig.get().launcher
    if "joblib" not in str(launcher.get("_target_", "")):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    jobs = launcher.get("n_jobs") or -1
    jobs = cores if jobs < 0 else jobs
    return max(1, cores // max(1, jobs))


def job(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from lengthgen.config import RunConfig
    from lengthgen.results import write_text
    from lengthgen.run import run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        config = RunConfig.from_dict(OmegaConf.to_container(cfg, resolve=True))
        limit_threads(worker_threads(config.xla_threads), hc.job.get("num") or 0)
        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        run(config, run_dir)
    except (ConfigError, FloatingPointError) as exc:
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        log.error("%s", exc)
        print(f"lengthgen-train: error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)


def main(argv: list[str] | None = None) -> None:
    import hydra

    argv = sys.argv[1:] if argv is None else argv
    try:
        register_configs()
        validate_argv(argv)
    except ConfigError as exc:
        print(f"lengthgen-train: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *argv]
    hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")(job)()


if __name__ == "__main__":
    main()
