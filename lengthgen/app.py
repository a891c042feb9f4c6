"""`lengthgen-train`: the Hydra entry point.

Before Hydra launches anything, every configuration of the sweep (command-line
sweeps and `hydra.sweeper.params` alike) is composed and fully validated, and
the output directory is checked to be writable, so bad input costs one line on
stderr, exit status 2 and no compilation. Hydra's own errors are rewritten
into the same one-line form. A run that fails in training (non-finite loss)
exits with status 1. In a sweep a failed run is marked (failed.json), the
launcher goes on with the others (basic, joblib, submitit, Ray alike), and the
command ends with status 1 and the first failure in one line. Set
LENGTHGEN_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # hydra/sweeper=basic's _target_
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from hydra.errors import CompactHydraException, MissingConfigException
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict, read_write
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from lengthgen import registry
from lengthgen.build import build
from lengthgen.config import RunConfig, schema, validate
from lengthgen.errors import ConfigError, one_line
from lengthgen.program import structure
from lengthgen.run import run
from lengthgen.runtime import enable_compilation_cache

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
PROGRESS_AT = 200
# Hydra's record of a job (config.yaml, hydra.yaml, overrides.yaml), written by `job` only when
# the run goes ahead (configs/config.yaml sets hydra.output_subdir: null for that).
HYDRA_FILES = ".hydra"
GROUPS = {"task": "TASKS", "position": "POSITIONS", "model": "MODELS"}

log = logging.getLogger("lengthgen")


def register_configs() -> None:
    """Store the schema and one group option per registered task/position/model in Hydra's ConfigStore.

    Names that have a YAML file in configs/<group>/ use the file instead, so
    plugin tasks and schemes are selectable (`task=NAME`) with no file of ours.
    """
    cs = ConfigStore.instance()
    cs.store(name="schema", node=schema())
    for group, table in GROUPS.items():
        for name, obj in getattr(registry, table).items():
            if (Path(CONFIG_DIR) / group / f"{name}.yaml").exists():
                continue
            node = {"kind": name} if group == "model" else {"name": name, **dataclasses.asdict(obj.Options())}
            cs.store(group=group, name=name, node=node)


def group_choices(group: str, extra_dirs: list[Path] = ()) -> list[str]:
    """Registered names and YAML presets of `group` (configs/<group>/, and <dir>/<group>/ of each
    --config-dir: a study's own presets such as a randomized scheme with a shorter range)."""
    names = set(getattr(registry, GROUPS[group]).names())
    for root in [Path(CONFIG_DIR), *extra_dirs]:
        names |= {p.stem for p in (root / group).glob("*.yaml")}
    return sorted(names)


SEARCHPATH = "hydra.searchpath="


def search_dirs(overrides: list[str]) -> list[Path]:
    """The directories of a `hydra.searchpath=[file://...]` override (see config_dir_as_searchpath)."""
    for item in overrides:
        if item.startswith(SEARCHPATH):
            value = OverridesParser.create().parse_overrides([item])[0].value()
            return [Path(str(p).removeprefix("file://")) for p in (value if isinstance(value, list) else [value])]
    return []


def _overrides(argv: list[str]) -> list[str] | None:
    """The key=value overrides of argv, or None when Hydra is asked for something other than a run."""
    if any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--shell-completion", "-sc") for a in argv):
        return None
    return [a for a in argv if "=" in a and not a.startswith("-")]


def config_dir_as_searchpath(argv: list[str]) -> list[str]:
    """argv with `--config-dir DIR` (or `-cd DIR`, `--config-dir=DIR`) as the override
    `hydra.searchpath=[file://DIR]`: the extra configs (a study's `+study=quick`) are then
    found alike by validation, which composes on its own, and by Hydra's run."""
    out, dirs, args = [], [], iter(argv)
    for a in args:
        if a in ("--config-dir", "-cd"):
            dirs.append(next(args, ""))
        elif a.startswith("--config-dir="):
            dirs.append(a.partition("=")[2])
        else:
            out.append(a)
    for d in dirs:
        if not Path(d).is_dir():
            raise ConfigError(f"--config-dir '{d}' is not a directory")
    if dirs:
        first = next((i for i, a in enumerate(out) if "=" in a and not a.startswith("-")), len(out))
        out.insert(first, f"{SEARCHPATH}[{','.join(f'file://{Path(d).resolve()}' for d in dirs)}]")
    return out


def sweep_jobs(argv_overrides: list[str]) -> tuple[list[list[str]], Any]:
    """(every job's overrides, in the order Hydra's basic sweeper numbers them; the first job's
    configuration composed with its `hydra` node). As the basic sweeper does, the sweep is
    `hydra.sweeper.params` (from the composed config) followed by argv, expanded by its own
    `split_arguments`."""
    parser = OverridesParser.create()
    first_of_argv = BasicSweeper.split_arguments(parser.parse_overrides(argv_overrides), None)[0][0]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=first_of_argv, return_hydra_config=True)
    params = [f"{key}={value}" for key, value in (cfg.hydra.sweeper.get("params") or {}).items()]
    return BasicSweeper.split_arguments(parser.parse_overrides(params + argv_overrides), None)[0], cfg


def options_of_swept_groups(argv: list[str]) -> list[str]:
    """argv with `position.max_len=128` made `++position.max_len=128` where `position=a,b` is swept.

    Hydra composes a sweep's base configuration with each swept group at its default
    (position=rope), where the option may not exist, and fails there with a multi-line
    error; `++` sets the option in the base and in every job alike. A job whose scheme has
    no such option is still refused, by name, in validation."""
    items = [(i, a) for i, a in enumerate(argv) if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides([a for _, a in items])
    except Exception:  # malformed overrides: validation reports them
        return argv
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override() and o.get_key_element() in GROUPS}
    out = list(argv)
    for (i, raw), o in zip(items, parsed):
        if o.type == OverrideType.CHANGE and o.get_key_element().partition(".")[0] in swept \
                and "." in o.get_key_element():
            out[i] = f"++{raw}"
    return out


def check_names(overrides: list[str]) -> None:
    """Refuse a task, position or model name (each one of a sweep) that is neither registered nor a preset."""
    extra = search_dirs(overrides)
    for item in overrides:
        key, _, value = item.partition("=")
        group = key.lstrip("+~")
        if group not in GROUPS:
            continue
        valid = group_choices(group, extra)
        broken = getattr(registry, GROUPS[group]).broken()
        for name in filter(None, (n.strip() for n in value.split(","))):
            if name in broken and name not in valid:
                raise ConfigError(f"{group} '{name}' failed to load from {broken[name]}")
            if name not in valid:
                raise ConfigError(f"unknown {group} '{name}'; valid: {', '.join(valid)}")


def sweep_output_dir(cfg: Any) -> Path | None:
    """Where the sweep job of composed `cfg` writes (None where only Hydra's runtime can resolve it)."""
    try:
        return Path(str(OmegaConf.select(cfg, "hydra.sweep.dir"))) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
    except Exception:
        return None


def check_output_dir(hydra_cfg: Any, multirun: bool) -> None:
    """The run (or sweep) directory, or its nearest existing parent, must be a writable directory."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        value = OmegaConf.select(hydra_cfg, key)
    except Exception:  # an interpolation only Hydra's runtime can resolve: Hydra reports it
        return
    if value is None or not str(value).strip():
        raise ConfigError(f"{key} is empty; give the directory the run writes to (e.g. {key}=outputs/my_run)")
    target = Path(str(value))
    path = target.absolute()
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if not existing.is_dir():
        culprit = "it" if existing == path else f"'{existing}'"
        raise ConfigError(f"{key}: cannot create output directory '{target}': {culprit} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lengthgen-write-test-", dir=existing))
    except OSError as exc:
        raise ConfigError(f"{key}: output directory '{target}' is not writable "
                          f"('{existing}': {exc.strerror or exc})") from None


def _seed_value(override: str) -> int | None:
    """The integer of a plain `seed=N` override, else None."""
    key, _, value = override.partition("=")
    if key != "seed":
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What validation learnt of a command: its jobs, how many program structures they compile
    (model, network and position scheme: runs of one structure share programs), whether it is a
    sweep, the launcher its configuration names and the XLA threads a run asks for (0: any)."""
    jobs: int
    structures: int
    multirun: bool
    launcher: str
    threads: int = 0


BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def side_by_side(plan: Plan, argv: list[str], cores: int) -> list[str]:
    """Overrides that run a sweep's jobs side by side, one core each, where that wins
    (benchmarks/README.md, "Launchers"): a sweep over several program structures on an
    unspecified launcher, with room for 2 or more jobs of `plan.threads` cores (one if any), at
    most one job per structure. Empty otherwise: a sweep of one structure (learning rates,
    seeds) is faster in one process, which reuses its compiled programs, and a launcher named
    on the command line or in the config is kept."""
    jobs = min(plan.structures, cores // max(1, plan.threads))
    if (not plan.multirun or jobs < 2 or plan.launcher != BASIC_LAUNCHER
            or any(a.startswith(("hydra/launcher=", "hydra.launcher.")) for a in argv)):
        return []
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]


def validate_argv(argv: list[str]) -> Plan:
    """Compose and validate every job the command would run; returns what it learnt (`Plan`).

    Jobs that differ only in `seed` share one composition and one build (the seed is
    checked on its own), so a sweep is validated per distinct configuration. Jobs
    of a sweep must write to different directories.
    """
    overrides = _overrides(argv)
    if overrides is None:
        return Plan(0, 0, False, "")
    check_names(overrides)
    try:
        jobs, first = sweep_jobs(overrides)
    except Exception as exc:  # Hydra/OmegaConf errors, rewritten as one line
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        raise ConfigError(describe(exc, overrides)) from None
    multirun = any(a in ("-m", "--multirun") for a in argv) or "MULTIRUN" in str(first.hydra.get("mode"))
    check_output_dir(first, multirun)
    swept = [i for i in range(len(jobs[0])) if len({job[i] for job in jobs}) > 1]
    varying = [[job[i] for i in swept] for job in jobs]
    groups: dict[tuple[str, ...], list[tuple[int, int | None]]] = {}
    for num, job in enumerate(jobs):
        seeds = [s for s in map(_seed_value, job) if s is not None]
        key = tuple(o for o in job if _seed_value(o) is None)
        groups.setdefault(key, []).append((num, seeds[0] if seeds else None))
    written: dict[Path, int] = {}
    structures, threads = set(), 0
    with (tqdm(total=len(jobs), desc="validating jobs", file=sys.stderr, leave=False,
               disable=len(jobs) < PROGRESS_AT or not sys.stderr.isatty()) as bar,
          initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3")):
        for key, members in groups.items():
            num, seed = members[0]
            combo = list(key) + ([f"seed={seed}"] if seed is not None else [])
            try:
                check_names(combo)
                cfg = compose("config", overrides=combo, return_hydra_config=True)
                raw = OmegaConf.to_container(cfg, resolve=False)
                raw.pop("hydra")
                run_cfg = RunConfig.from_dict(OmegaConf.to_container(OmegaConf.create(raw), resolve=True))
                structures.add(structure(build(run_cfg)))
                threads = max(threads, run_cfg.xla_threads)
                for num, seed in members:
                    if seed is not None:
                        validate(dataclasses.replace(run_cfg, seed=seed))
                    if multirun:
                        with read_write(cfg), open_dict(cfg):
                            cfg.hydra.job.num = num
                            if seed is not None:
                                cfg.seed = seed
                        where = sweep_output_dir(cfg)
                        other = num if where is None else written.setdefault(where.absolute(), num)
                        if other != num:
                            raise ConfigError(f"writes to '{where}' like job {other} ({' '.join(varying[other])}); "
                                              "make hydra.sweep.subdir tell them apart")
                    bar.update(1)
            except ConfigError as exc:
                raise ConfigError(_job_prefix(num, varying) + str(exc)) from None
            except Exception as exc:  # Hydra/OmegaConf composition errors, rewritten as one line
                if os.environ.get("LENGTHGEN_DEBUG"):
                    raise
                raise ConfigError(_job_prefix(num, varying) + describe(exc, combo)) from None
    return Plan(len(jobs), len(structures), multirun, str(OmegaConf.select(first, "hydra.launcher._target_")), threads)


def _job_prefix(num: int, varying: list[list[str]]) -> str:
    """'job 3 (position=rope seed=2): ' in a sweep of several jobs, else ''."""
    return f"job {num} ({' '.join(varying[num])}): " if len(varying) > 1 else ""


def describe(exc: BaseException, overrides: list[str]) -> str:
    """One line for a Hydra/OmegaConf error: the bad override or key and, where known, the valid
    choices (read from the exceptions' own fields: the missing group file, OmegaConf's full_key)."""
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options is not None:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        if group:
            return f"unknown {group} '{name}'; valid: {', '.join(sorted(exc.options)) or '(none)'}"
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            return unknown_key(cause.full_key, overrides)
        return f"{override_of(cause.full_key, overrides)}: {one_line(cause, 2)}"
    return one_line(exc, 2)


def override_of(full_key: str, overrides: list[str]) -> str:
    """The override that set `full_key` (`train.lrs=[fast]` for train.lrs[0]), else the key."""
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~")
        if full_key == key or full_key.startswith((f"{key}.", f"{key}[")):
            return item
    return full_key


def unknown_key(key: str, overrides: list[str]) -> str:
    """'unknown config key' naming the keys valid at that place (composed without the bad override)."""
    parent, _, leaf = key.rpartition(".")
    rest = [o for o in overrides if o.partition("=")[0].lstrip("+~") != key]
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("config", overrides=rest, return_hydra_config=parent.startswith("hydra"))
        node = OmegaConf.select(cfg, parent) if parent else cfg
        valid = sorted(str(k) for k in node.keys())
    except Exception:
        return f"unknown config key '{key}'"
    if parent in ("task", "position"):
        options = [k for k in valid if k != "name"]
        return (f"{parent} '{node.get('name')}': unknown option '{leaf}'; "
                f"valid options: {', '.join(options) or '(none)'}")
    if not parent:
        valid = [k for k in valid if k != "hydra"]
    return f"unknown config key '{key}'; valid: {', '.join(valid)}"


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
    """Threads per job: as configured; cores / parallel jobs under the joblib launcher; the CPUs a
    job asks for under Ray (`ray.remote.num_cpus`) and submitit's local executor (`cpus_per_task`),
    which start jobs side by side on one machine. Under Slurm the job's own CPUs bound it already."""
    if requested:
        return requested
    launcher = HydraConfig.get().launcher
    target = str(launcher.get("_target_", ""))
    if "ray_launcher" in target:
        return int(OmegaConf.select(launcher, "ray.remote.num_cpus", default=0) or 0)
    if target.endswith("LocalLauncher") and "submitit" in target:
        return int(launcher.get("cpus_per_task") or 0)
    if "joblib" not in target:
        return 0
    cores = usable_cores()
    jobs = launcher.get("n_jobs") or -1
    jobs = cores if jobs < 0 else jobs
    return max(1, cores // max(1, jobs))


class RunFailed(CompactHydraException):
    """A run of a sweep failed. Raised (not exited) so that every launcher records the job as failed
    and goes on with the others; Hydra then ends the sweep with this one line and status 1."""


def job(cfg) -> None:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    files = {"config.yaml": OmegaConf.to_yaml(cfg, resolve=True),
             f"{HYDRA_FILES}/config.yaml": OmegaConf.to_yaml(cfg),
             f"{HYDRA_FILES}/hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hc})),
             f"{HYDRA_FILES}/overrides.yaml": OmegaConf.to_yaml(hc.overrides.task)}
    sweep = hc.mode == RunMode.MULTIRUN
    try:
        config = RunConfig.from_dict(OmegaConf.to_container(cfg, resolve=True))
        limit_threads(worker_threads(config.xla_threads), hc.job.get("num") or 0)
        enable_compilation_cache()
        with logging_redirect_tqdm():  # log lines print above the progress bar, not onto it
            run(config, run_dir, files=files)
    except (ConfigError, FloatingPointError) as exc:
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        log.error("%s", exc)
        if sweep:
            raise RunFailed(f"lengthgen-train: error: {run_dir}: {one_line(exc)}") from None
        print(f"lengthgen-train: error: {exc}", file=sys.stderr)
        sys.exit(2 if isinstance(exc, ConfigError) else 1)
    except Exception as exc:
        if not sweep or os.environ.get("LENGTHGEN_DEBUG"):
            raise
        log.exception("run failed")
        raise RunFailed(f"lengthgen-train: error: {run_dir}: {type(exc).__name__}: {one_line(exc)}") from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        register_configs()
        argv = options_of_swept_groups(config_dir_as_searchpath(argv))
        plan = validate_argv(argv)
    except ConfigError as exc:
        if os.environ.get("LENGTHGEN_DEBUG"):
            raise
        print(f"lengthgen-train: error: {exc}", file=sys.stderr)
        sys.exit(2)
    parallel = side_by_side(plan, argv, usable_cores())
    if parallel:
        print(f"lengthgen-train: {plan.jobs} jobs of {plan.structures} program structures: running "
              f"{parallel[1].split('=')[1]} at a time ({' '.join(parallel)}; "
              "hydra/launcher=basic runs them one by one)", file=sys.stderr)
    sys.argv = [sys.argv[0], *argv, *parallel]
    hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")(job)()


if __name__ == "__main__":
    main()
