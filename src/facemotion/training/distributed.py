"""Data-parallel training over several processes: ``torchrun --nproc_per_node=N -m facemotion train ...``.

torchrun starts N copies of the command and tells each its ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` reads them and joins the process group (gloo on CPUs, NCCL on
GPUs, one GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK``). Every process loads the
data and draws the same seeded permutation per epoch; :meth:`Dist.shard` gives each its
slice, so together they see the epoch once. ``DistributedDataParallel`` averages the
gradients, :meth:`Dist.sum` adds up the metrics, and only rank 0 writes checkpoints, logs and
plots. Without torchrun (``WORLD_SIZE`` unset or 1) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, perm: torch.Tensor) -> torch.Tensor:
        """This process's part of an epoch's permutation: every ``world``-th index from ``rank``;
        all parts have the same length (the ragged few at the end, under ``world``, are left out
        so that every process runs the same number of steps)."""
        if not self.enabled:
            return perm
        return perm[self.rank:len(perm) - len(perm) % self.world:self.world]

    def sum(self, values, device="cpu") -> list[float]:
        """Element-wise sums over all processes."""
        if not self.enabled:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def share_buffers(self, module) -> None:
        """Give every process rank 0's buffers (BatchNorm statistics, which each process updates
        from its own batches), so all evaluate the very model rank 0 saves."""
        if self.enabled:
            for b in module.buffers():
                dist.broadcast(b, 0)

    def wrap(self, model):
        if not self.enabled:
            return model
        dev = next(model.parameters()).device
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: str, threads: int = 0) -> tuple[Dist, str, int]:
    """Join torchrun's process group if there is one: returns (the context, this process's
    device, its torch thread count: ``threads``, or for 0 on a CPU the cores shared among the
    node's processes)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device, threads
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local) if dev.index is None else dev
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
        if not threads:  # torchrun sets OMP_NUM_THREADS=1; share the node's cores instead
            threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    dist.init_process_group(backend, rank=rank, world_size=world)
    return Dist(rank, world, local, backend), str(dev), threads
