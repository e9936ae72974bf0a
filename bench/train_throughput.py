"""Training throughput: our pipeline vs a plain PyTorch loop, same model, data and precision.

Plain loop (what a typical script does): a map-style Dataset applying per-sample transforms
(pad + random crop, flip, normalise), a DataLoader collating them, NCHW tensors, eager fp32.
Ours: `squeezenet.engine.train_one_epoch` over `BatchLoader` (uint8 batch indexing, whole-batch
augmentation), channels_last, and the allocator setting `fit` makes (`hardware.keep_freed_memory`).
Both train the same model (the demo recipe's) on real Fashion-MNIST in float32 for the same
number of steps. Each block runs in a fresh process, so a process-wide setting of ours never
helps the plain loop; blocks alternate (and swap order) so drift in machine load hits both
alike. Where the CPU runs bf16 natively, ours is also timed with `amp="auto"` (bf16) as an
extra figure; the headline ratio is float32 against float32. A third block times the model's
convolutions alone (forward and backward, each on its real input shape, summed): the rate of
a step whose every other op were free, so `ratio_ceiling` is the most any pipeline could gain
over the plain loop without faster convolution kernels. Writes
bench/results/train_throughput.json.

    python bench/train_throughput.py [--steps 40] [--blocks 3] [--batch-size 128] [--threads 2]
        [--out bench/results/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from squeezenet import create_model, hardware
from squeezenet.data import BatchLoader, Normalize, compute_mean_std, load_dataset
from squeezenet.demo import describe_model
from squeezenet.engine import build_augment, build_optimizer, train_one_epoch
from squeezenet.engine.recipes import recipe
from squeezenet.files import atomic_write_text
from squeezenet.inference.machine import machine_info

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"
WARMUP_STEPS = 3


class PerSampleDataset(Dataset):
    """The usual map-style dataset: one image at a time through Python transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float) -> None:
        self.images, self.labels, self.mean, self.std = images, labels, mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.images[i].float().div(255)  # (1, 28, 28)
        img = torch.nn.functional.pad(img, (3, 3, 3, 3))
        top, left = torch.randint(0, 7, (2,)).tolist()
        img = img[:, top : top + 28, left : left + 28]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        return (img - self.mean) / self.std, self.labels[i]


def new_model() -> torch.nn.Module:
    """The demo recipe's model for 1x28x28 Fashion-MNIST, freshly initialised."""
    torch.manual_seed(0)
    settings = recipe("demo")
    kwargs = {"num_classes": 10, "in_channels": 1, **settings["model_kwargs"]}
    return create_model(settings["model"], **kwargs)


class Limited:
    """The first `steps` batches of a BatchLoader epoch."""

    def __init__(self, loader: BatchLoader, steps: int) -> None:
        self.loader, self.steps = loader, steps

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.steps:
                return
            yield batch


def plain_rate(data, mean: float, std: float, steps: int, batch_size: int) -> float:
    model = new_model()
    opt = build_optimizer(model, "sgd", 0.05)
    loader = DataLoader(
        PerSampleDataset(data.images, data.labels, mean, std),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
    )
    batches, loss_fn = iter(loader), torch.nn.CrossEntropyLoss()
    model.train()

    def run(n: int) -> None:
        for _ in range(n):
            x, y = next(batches)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    run(WARMUP_STEPS)
    start = time.perf_counter()
    run(steps)
    return steps * batch_size / (time.perf_counter() - start)


def ours_rate(data, mean: float, std: float, steps: int, batch_size: int, amp: str) -> float:
    hardware.keep_freed_memory()  # as fit() does
    model = new_model().to(memory_format=torch.channels_last)
    opt = build_optimizer(model, "sgd", 0.05)
    loader = BatchLoader(
        data,
        batch_size,
        shuffle=True,
        augment=build_augment("crop-flip", 28),
        normalize=Normalize([mean], [std]),
        drop_last=True,
        channels_last=True,
    )
    train_one_epoch(model, Limited(loader, WARMUP_STEPS), opt, amp=amp)
    loader.set_epoch(1)
    start = time.perf_counter()
    train_one_epoch(model, Limited(loader, steps), opt, amp=amp)
    return steps * batch_size / (time.perf_counter() - start)


def conv_only_rate(steps: int, batch_size: int) -> float:
    """Images/s of a step that were only the demo model's convolutions: each conv's forward
    and backward (weight, bias and, past the first, input gradients) timed alone on its real
    input shape, channels_last fp32, and summed. Every other op (BatchNorm, ReLU, concats,
    adds, pooling, loss, optimizer, loader) costs nothing here, and each conv runs on warm
    caches, so no pipeline training this model with these kernels can beat this rate."""
    hardware.keep_freed_memory()
    model = new_model().to(memory_format=torch.channels_last)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    shapes: list[torch.Size] = []
    hooks = [c.register_forward_hook(lambda _m, i, _o: shapes.append(i[0].shape)) for c in convs]
    model(torch.zeros(batch_size, 1, 28, 28).to(memory_format=torch.channels_last))
    for hook in hooks:
        hook.remove()
    total = 0.0
    for i, (conv, shape) in enumerate(zip(convs, shapes)):
        x = torch.randn(shape).to(memory_format=torch.channels_last).requires_grad_(i > 0)
        grad = torch.randn_like(conv(x))
        for _ in range(WARMUP_STEPS):
            conv(x).backward(grad)
        start = time.perf_counter()
        for _ in range(steps):
            conv(x).backward(grad)
        total += (time.perf_counter() - start) / steps
    return batch_size / total


def worker(kind: str, args: argparse.Namespace) -> None:
    """One block in this process: print its images/s as JSON."""
    torch.set_num_threads(args.threads)
    if kind == "conv-only":
        print(json.dumps({"images_per_s": conv_only_rate(args.steps, args.batch_size)}))
        return
    data = load_dataset("fashion-mnist", "train")
    (mean,), (std,) = compute_mean_std(data.images)
    if kind == "plain":
        rate = plain_rate(data, mean, std, args.steps, args.batch_size)
    else:
        rate = ours_rate(data, mean, std, args.steps, args.batch_size, kind.removeprefix("ours-"))
    print(json.dumps({"images_per_s": rate}))


def run_block(kind: str, args: argparse.Namespace) -> float:
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--steps",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--threads",
        str(args.threads),
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_s"]


def machine(threads: int) -> dict:
    """`inference.machine.machine_info` plus what decides the precision."""
    native, why = hardware.native_bf16("cpu")
    avx = sorted(f for f in hardware.cpu_flags() if f.startswith(("avx", "amx")))
    return {
        **machine_info(threads),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": avx,
        "native_bf16": native,
        "native_bf16_evidence": why,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--worker", choices=["plain", "ours-none", "ours-auto", "conv-only"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args)
    kinds = ["plain", "ours-none", "conv-only"]
    kinds += ["ours-auto"] if hardware.native_bf16("cpu")[0] else []
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for block in range(args.blocks):
        for kind in kinds if block % 2 == 0 else kinds[::-1]:
            rates[kind].append(run_block(kind, args))
    plain, ours = statistics.median(rates["plain"]), statistics.median(rates["ours-none"])
    result = {
        "benchmark": "train_throughput",
        "model": describe_model(new_model().config, (1, 28, 28)),
        "batch_size": args.batch_size,
        "steps_per_block": args.steps,
        "plain_images_per_s": plain,
        "ours_images_per_s": ours,
        "ratio": ours / plain,
        # The most any pipeline could reach over the plain loop with these conv kernels: a
        # step that were its convolutions alone (see conv_only_rate).
        "conv_only_images_per_s": statistics.median(rates["conv-only"]),
        "ratio_ceiling": statistics.median(rates["conv-only"]) / plain,
        "blocks": rates,
        "plain": "per-sample Dataset + DataLoader(num_workers=0), NCHW, eager fp32",
        "ours": "BatchLoader (batched uint8 augmentation), channels_last, fp32, keep_freed_memory",
        "machine": machine(args.threads),
    }
    if "ours-auto" in rates:
        result["ours_bf16_images_per_s"] = statistics.median(rates["ours-auto"])
        result["ratio_bf16"] = result["ours_bf16_images_per_s"] / plain
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(
        f"fp32: plain {plain:.0f} img/s, ours {ours:.0f} img/s, ratio {ours / plain:.2f}x; "
        f"convolutions alone {result['conv_only_images_per_s']:.0f} img/s, "
        f"{result['ratio_ceiling']:.2f}x -> {args.out}"
    )


if __name__ == "__main__":
    main()
