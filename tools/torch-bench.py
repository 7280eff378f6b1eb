#!/usr/bin/env python3
"""PyTorch's native batch normalization timed like mpscl-bench, for a comparison in one run.

Times torch's training-mode batch-norm forward (statistics computed, running statistics
updated) and its backward (aten.native_batch_norm_backward, the kernel autograd calls) on N x C
matrices, and prints rows in mpscl-bench's CSV columns, so that tools/bench-chart.py can draw
both. Device time: CUDA events around each call, median of K after 3 warm-ups (on a CPU: the
wall clock). Bytes follow mpscl-bench's model: gradient 5 N C s (x and dy read twice, dx
written), forward with statistics 4 N C s; the copy bandwidth is the best of 5 copies of a
buffer of the largest shape's size, read + written, measured in the same run.

  tools/torch-bench.py --shapes 65536x1024,4096x4096 --dtype f16 --op both > torch.csv
  tools/torch-bench.py --suite resnet50 --op gradient
"""
import argparse
import statistics
import sys
import time

RESNET50 = ("401408x64*1,100352x64*6,100352x256*4,100352x128*1,25088x128*7,25088x512*5,"
            "25088x256*1,6272x256*11,6272x1024*7,6272x512*1,1568x512*5,1568x2048*4")
DEFAULT = "65536x1024,4096x4096,1048576x64,256x16384,32768x256,1024x1024,128x512"
COLUMNS = ("op,rows,columns,layers,dtype,neuron,device_median_us,device_min_us,e2e_median_us,"
           "e2e_min_us,e2e_timed_median_us,bytes,gb_per_s,copy_gb_per_s,fraction_of_copy")


def parse_shapes(text):
    """'NxC' or 'NxC*L', comma-separated, into (n, c, layers) triples."""
    shapes = []
    for item in text.split(","):
        dims, _, layers = item.partition("*")
        n, c = (int(v) for v in dims.split("x"))
        count = int(layers) if layers else 1
        if n <= 0 or c <= 0 or count <= 0:
            raise ValueError(item)
        shapes.append((n, c, count))
    return shapes


class Clock:
    """Device time of a call: CUDA events on a GPU, the wall clock elsewhere."""

    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device.type == "cuda"

    def time(self, call):
        if self.cuda:
            start = self.torch.cuda.Event(enable_timing=True)
            end = self.torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) * 1e-3
        begin = time.perf_counter()
        call()
        return time.perf_counter() - begin

    def wall(self, call):
        begin = time.perf_counter()
        call()
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter() - begin


def copy_bandwidth(torch, clock, device, elements, dtype):
    src = torch.randn(elements, device=device).to(dtype)
    dst = torch.empty_like(src)
    best = min(clock.time(lambda: dst.copy_(src)) for _ in range(6))
    return 2 * src.numel() * src.element_size() / best


def operands(torch, device, dtype, n, c):
    gen = torch.Generator(device="cpu").manual_seed(n * 131 + c)
    x = (torch.randn(n, c, generator=gen) * 2 + 0.5).to(device=device, dtype=dtype)
    dy = torch.randn(n, c, generator=gen).to(device=device, dtype=dtype)
    weight = torch.rand(c, generator=gen).add_(0.5).to(device)
    bias = torch.randn(c, generator=gen).to(device)
    return x, dy, weight, bias


def measure(torch, clock, device, op, dtype, n, c, iterations):
    """(device times, wall times) of the op on an n x c matrix."""
    x, dy, weight, bias = operands(torch, device, dtype, n, c)
    running_mean = torch.zeros(c, device=device)
    running_var = torch.ones(c, device=device)
    eps = 1e-5
    _, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
        x, weight, bias, running_mean, running_var, True, 0.1, eps)

    def forward():
        torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True, 0.1,
                                         eps)

    def backward():
        torch.ops.aten.native_batch_norm_backward(dy, x, weight, running_mean, running_var,
                                                  save_mean, save_invstd, True, eps,
                                                  [True, True, True])

    call = forward if op == "forward" else backward
    for _ in range(3):
        clock.time(call)
    device_times = sorted(clock.time(call) for _ in range(iterations))
    wall_times = sorted(clock.wall(call) for _ in range(iterations))
    return device_times, wall_times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=DEFAULT, help="NxC[*L],... (default: %(default)s)")
    parser.add_argument("--suite", choices=["resnet50"], help="ResNet-50's 53 layers, batch 32")
    parser.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    parser.add_argument("--op", choices=["gradient", "forward", "both"], default="gradient")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        sys.exit("torch-bench.py: PyTorch is not installed (pip install torch)")
    try:
        shapes = parse_shapes(RESNET50 if args.suite else args.shapes)
    except ValueError as bad:
        sys.exit("torch-bench.py: bad shape %s" % bad)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    size = {"f32": 4, "f16": 2, "bf16": 2}[args.dtype]
    clock = Clock(torch, device)
    ops = ["forward", "gradient"] if args.op == "both" else [args.op]
    copy_bw = copy_bandwidth(torch, clock, device, max(n * c for n, c, _ in shapes), dtype)
    totals = dict.fromkeys(ops, 0.0)
    print("# torch %s on %s, copy bandwidth %.1f GB/s" % (
        torch.__version__, torch.cuda.get_device_name(device) if clock.cuda else "cpu",
        copy_bw * 1e-9))
    print(COLUMNS)
    for n, c, layers in shapes:
        for op in ops:
            dev, wall = measure(torch, clock, device, op, dtype, n, c, args.iterations)
            median, wall_median = statistics.median(dev), statistics.median(wall)
            nbytes = n * c * size * (5 if op == "gradient" else 4)
            gbs = nbytes / median * 1e-9
            totals[op] += median * layers
            print("%s,%d,%d,%d,%s,none,%.2f,%.2f,%.2f,%.2f,%.2f,%d,%.1f,%.1f,%.3f" % (
                op, n, c, layers, args.dtype, median * 1e6, dev[0] * 1e6, wall_median * 1e6,
                wall[0] * 1e6, wall_median * 1e6, nbytes, gbs, copy_bw * 1e-9,
                gbs / (copy_bw * 1e-9)))
    for op in ops:
        print("# %s total over %d layers (device median x layers): %.1f us" % (
            op, sum(layers for _, _, layers in shapes), totals[op] * 1e6))


if __name__ == "__main__":
    main()
