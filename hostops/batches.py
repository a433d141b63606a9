"""Rolling changes: hosts cut into batches, and how many failures a batch tolerates.
Shared by ``hostops run``/``put`` (``--batch``, ``--max-fail``) and playbooks
(``serial``, ``max_fail``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Count:
    """A number of hosts, absolute (``3``) or a percentage of a total (``"30%"``)."""

    value: int
    percent: bool = False

    def of(self, total: int) -> int:
        """This count for ``total`` hosts: percentages round down."""
        return total * self.value // 100 if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    @classmethod
    def parse(cls, value: object, minimum: int) -> Count | None:
        """``5``, ``"5"`` or ``"30%"`` (from minimum to 100 for a percentage); None if
        ``value`` is none of these."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value) if value >= minimum else None
        if isinstance(value, str):
            text = value.strip()
            if text.endswith("%") and text[:-1].strip().isdigit():
                percent = int(text[:-1])
                return cls(percent, percent=True) if minimum <= percent <= 100 else None
            if text.isdigit() and int(text) >= minimum:
                return cls(int(text))
        return None


def batches(items: Sequence[T], serial: Count | None) -> list[tuple[T, ...]]:
    """``items`` cut into batches of ``serial`` (a percentage of all of them, rounded down,
    at least 1); one batch when ``serial`` is None."""
    if not items:
        return []
    size = len(items) if serial is None else max(1, serial.of(len(items)))
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def fail_limit(batch_size: int, max_fail: Count | None) -> int:
    """How many failed hosts a batch of ``batch_size`` tolerates; one more stops the rollout.

    A percentage rounds down (10% of 5 hosts: 0). Without ``max_fail`` the rollout
    stops only when every host of a batch failed.
    """
    if max_fail is None:
        return batch_size - 1
    return max_fail.of(batch_size)
