"""`make demo`: the main job end to end. For now: the paper's Table 1 for 1.0 and 1.1."""

from __future__ import annotations

from .cli.app import console
from .cli.models import summary_table
from .models import create_model
from .summary import summarize


def main() -> None:
    for name in ("squeezenet1_0", "squeezenet1_1"):
        console.print(summary_table(summarize(create_model(name), 224)))


if __name__ == "__main__":
    main()
