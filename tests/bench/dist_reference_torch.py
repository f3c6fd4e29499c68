"""PyTorch reference for `deno task bench:dist`: the same collectives through torch.distributed's Gloo
backend (PyTorch's CPU collectives), between RANKS processes on 127.0.0.1, one thread each.
Usage: python3 dist_reference_torch.py RANKS FLOATS ITERS. Prints one JSON line (median seconds per call).
Needs `pip install torch` (the bench skips it with a note otherwise).
"""
import json
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, world, floats, iters, port, queue):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    big = torch.ones(floats)
    small = torch.ones(floats // world)
    times = {"all_reduce_s": [], "reduce_scatter_s": [], "all_gather_s": []}
    ops = {
        "all_reduce_s": lambda: dist.all_reduce(big),
        "reduce_scatter_s": lambda: dist.reduce_scatter_tensor(small, big),
        "all_gather_s": lambda: dist.all_gather_into_tensor(big, small),
    }
    for it in range(iters + 1):  # iteration 0 warms up
        for name, op in ops.items():
            dist.barrier()
            t0 = time.perf_counter()
            op()
            if it > 0:
                times[name].append(time.perf_counter() - t0)
    if rank == 0:
        queue.put({k: sorted(v)[len(v) // 2] for k, v in times.items()})
    dist.destroy_process_group()


def main():
    world, floats, iters = (int(a) for a in sys.argv[1:4])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(worker, args=(world, floats, iters, port, queue), nprocs=world, start_method="spawn")
    result = queue.get()
    print(json.dumps({"ranks": world, "floats": floats, "iters": iters, **result}))


if __name__ == "__main__":
    main()
