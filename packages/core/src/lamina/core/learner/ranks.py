"""Which process am I? Rank helpers shared by the Learner (save on rank 0) and distributed training."""

from __future__ import annotations

import os

import torch.distributed as dist

__all__ = ["rank_distrib", "num_distrib", "local_rank_distrib", "distrib_barrier"]


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_distrib() -> int:
    """This process's rank: the process group's, else `$RANK`; 0 when not launched distributed."""
    return dist.get_rank() if _initialized() else int(os.environ.get("RANK", 0))


def num_distrib() -> int:
    """The number of processes: the process group's world size, else `$WORLD_SIZE`; 0 when not
    launched distributed (fastai's convention: `if num_distrib() > 1` means several processes)."""
    return dist.get_world_size() if _initialized() else int(os.environ.get("WORLD_SIZE", 0))


def local_rank_distrib() -> int:
    """This process's rank on its machine (`$LOCAL_RANK`, set by torchrun; 0 otherwise): its GPU index."""
    return int(os.environ.get("LOCAL_RANK", 0))


def distrib_barrier() -> None:
    """Wait until every process reaches this point (does nothing without a process group)."""
    if _initialized():
        dist.barrier()
