"""Fault injection for the launcher tests: a Hydra callback, so it runs inside the job on every launcher."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback

import lengthgen.train


class KillAfterFirstCheckpoint(Callback):
    """SIGKILL the job of learning rate `lr` just after it writes its first checkpoint, as a machine
    that dies would; a job that starts with a checkpoint in its directory (a relaunch) is left alone."""

    def __init__(self, lr: float):
        self.lr = lr

    def on_job_start(self, config, **kwargs) -> None:
        if config.train.lr != self.lr or (Path(HydraConfig.get().runtime.output_dir) / "checkpoint.msgpack").exists():
            return
        save = lengthgen.train.save_checkpoint

        def save_then_die(*args, **kw):
            save(*args, **kw)
            os.kill(os.getpid(), signal.SIGKILL)

        lengthgen.train.save_checkpoint = save_then_die
