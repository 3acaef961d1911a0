"""A progress bar for training loops (tqdm), fed by the fit loop's per-epoch callback."""

from __future__ import annotations

import sys

from tqdm import tqdm


class EpochProgress:
    """Shows epoch, loss and validation Micro-F1; use as `on_epoch` callback, then `close()`."""

    def __init__(self, label: str, max_epochs: int):
        self.bar = tqdm(total=max_epochs, desc=label, unit="ep", file=sys.stderr, mininterval=0.5,
                        dynamic_ncols=True, leave=True)

    def __call__(self, epoch: int, record: dict[str, float]) -> None:
        self.bar.update(epoch - self.bar.n)
        self.bar.set_postfix(loss=f"{record['loss']:.4f}", val_f1=f"{record['val_micro_f1']:.4f}",
                             best=f"{record['best_val_micro_f1']:.4f}", refresh=False)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "EpochProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
