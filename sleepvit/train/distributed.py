"""Running one training on several processes with ``torchrun`` (DistributedDataParallel).

``torchrun --standalone --nproc_per_node=2 -m sleepvit.cli train …`` starts two processes that see
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in their environment. Each process draws its own
share of every epoch's samples and DDP averages the gradients, so the run is the same
training as a single process with the combined batch. Only rank 0 writes files.
Without those variables everything degrades to a plain single-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from sleepvit.errors import SleepVitError

# Rank 0 renders the cache and trains the sequence model while the others wait; a night
# of rendering must not trip the default 30-minute collective timeout.
_COLLECTIVE_TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the (possibly one-process) training job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, weights and logs."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` on this process's device, wrapped in DDP when there are several ranks."""
        model = model.to(self.device)
        if not self.is_distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def mean(self, value: float) -> float:
        """Average of a scalar over all ranks (e.g. the training loss for the log)."""
        if not self.is_distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size


def choose_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` = this rank's CUDA device when there is one, else the CPU.

    >>> choose_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise SleepVitError(
                "device cuda: no CUDA device is visible; train on the CPU", settings=("device",)
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise SleepVitError(
            f"unknown device {name!r}; choose auto, cpu or cuda", settings=("device",)
        )
    return torch.device("cpu")


def start(device: str = "auto", threads: int | None = None) -> DistContext:
    """Join the ``torchrun`` process group if there is one; set this process's CPU threads.

    ``threads`` defaults to this rank's share of the cores (torchrun would pin every rank to
    one thread); fewer threads help on a machine shared with other jobs.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = choose_device(device, local_rank)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_world))
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=_COLLECTIVE_TIMEOUT)
    return DistContext(rank, world_size, local_rank, torch_device)


def stop(context: DistContext) -> None:
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()
