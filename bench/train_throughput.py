"""Training throughput: our pipeline vs a plain PyTorch loop, same model, data and process.

Plain loop (what a typical script does): a map-style Dataset applying per-sample transforms
(pad + random crop, flip, normalise), a DataLoader collating them, NCHW tensors, eager fp32.
Ours: `squeezenet.engine.train_one_epoch` over `BatchLoader` (uint8 batch indexing, whole-batch
augmentation), channels_last, bf16 autocast on CPUs that support it.
Both train the same model (the demo recipe's) on real Fashion-MNIST for the same number of
steps; blocks alternate so drift in machine load hits both alike. Writes
bench/results/train_throughput.json.

    python bench/train_throughput.py [--steps 40] [--batch-size 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from squeezenet import create_model
from squeezenet.data import BatchLoader, Normalize, compute_mean_std, load_dataset
from squeezenet.demo import describe_model
from squeezenet.engine import build_augment, build_optimizer, train_one_epoch
from squeezenet.engine.recipes import recipe
from squeezenet.files import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"


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


def plain_steps(loader_iter, model, opt, steps: int) -> float:
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(loader_iter)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


class Limited:
    """The first `steps` batches of a BatchLoader epoch."""

    def __init__(self, loader: BatchLoader, steps: int) -> None:
        self.loader, self.steps, self.epoch = loader, steps, 0

    def __iter__(self):
        self.loader.set_epoch(self.epoch)
        self.epoch += 1
        for i, batch in enumerate(self.loader):
            if i == self.steps:
                return
            yield batch


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": torch.get_num_threads(),
        "torch": torch.__version__,
        "bf16_autocast": torch.backends.mkldnn.is_available(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist", "train")
    (mean,), (std,) = compute_mean_std(data.images)

    plain_model = new_model()
    plain_opt = build_optimizer(plain_model, "sgd", 0.05)
    plain_loader = DataLoader(PerSampleDataset(data.images, data.labels, mean, std),
                              batch_size=args.batch_size, shuffle=True, drop_last=True)  # fmt: skip

    ours_model = new_model().to(memory_format=torch.channels_last)
    ours_opt = build_optimizer(ours_model, "sgd", 0.05)
    ours_loader = BatchLoader(data, args.batch_size, shuffle=True, augment=build_augment("crop-flip", 28),
                              normalize=Normalize([mean], [std]), drop_last=True, channels_last=True)  # fmt: skip
    limited = Limited(ours_loader, args.steps)

    plain_iter = iter(plain_loader)
    plain_steps(plain_iter, plain_model, plain_opt, 3)  # warm-up both
    train_one_epoch(ours_model, Limited(ours_loader, 3), ours_opt, amp="bf16")
    plain_rates, ours_rates = [], []
    for _ in range(args.blocks):
        elapsed = plain_steps(plain_iter, plain_model, plain_opt, args.steps)
        plain_rates.append(args.steps * args.batch_size / elapsed)
        start = time.perf_counter()
        train_one_epoch(ours_model, limited, ours_opt, amp="bf16")
        ours_rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
    plain, ours = statistics.median(plain_rates), statistics.median(ours_rates)
    result = {
        "benchmark": "train_throughput",
        "model": describe_model(ours_model.config, tuple(data.images.shape[1:])),
        "batch_size": args.batch_size,
        "steps_per_block": args.steps,
        "plain_images_per_s": plain,
        "ours_images_per_s": ours,
        "ratio": ours / plain,
        "plain_blocks": plain_rates,
        "ours_blocks": ours_rates,
        "plain": "per-sample Dataset + DataLoader(num_workers=0), NCHW, eager fp32",
        "ours": "BatchLoader (batched uint8 augmentation), channels_last, bf16 autocast",
        "machine": machine(),
    }
    atomic_write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    print(f"plain {plain:.0f} img/s, ours {ours:.0f} img/s, ratio {ours / plain:.2f}x -> {RESULTS}")


if __name__ == "__main__":
    main()
