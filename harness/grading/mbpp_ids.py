"""MBPP task ids of the cache's 257 sanitized items, so evalplus samples (``Mbpp/<task id>``) land on
the right problem.

The cache keys MBPP items by position only (OpenCompass's ``sanitized_mbpp``: the test split of
google-research's ``sanitized-mbpp.json``, task ids 11-510, in ascending id order). evalplus writes
the original MBPP task id instead (``Mbpp/2`` ... ``Mbpp/809``; MBPP+ also holds tasks of the other
splits, which the cache does not have). The table below is those 257 ids in the cache's order; it
was checked item by item against the cache (each position's asserts equal that task's
``test_list``), and ``tests/test_importers_real.py`` pins a few of them.

Imports: nothing of the project.
"""
from __future__ import annotations

# (first, last) runs of consecutive task ids, in position order: 257 ids in all
_RUNS = ((11, 12), (14, 14), (16, 20), (56, 59), (61, 72), (74, 75), (77, 77), (79, 80), (82, 106), (108, 109),
         (111, 111), (113, 113), (115, 120), (123, 133), (135, 135), (137, 143), (145, 145), (160, 168),
         (170, 172), (222, 224), (226, 230), (232, 235), (237, 240), (242, 242), (244, 253), (255, 257),
         (259, 262), (264, 274), (276, 287), (290, 297), (299, 301), (304, 312), (388, 401), (404, 415),
         (417, 422), (424, 448), (450, 465), (468, 468), (470, 479))

TASK_IDS: tuple[int, ...] = tuple(i for first, last in _RUNS for i in range(first, last + 1))
POSITION_OF: dict[int, str] = {task: str(pos) for pos, task in enumerate(TASK_IDS)}
assert len(TASK_IDS) == 257 and list(TASK_IDS) == sorted(set(TASK_IDS))


def evalplus_id(position: str | int) -> str:
    """The evalplus task id (``Mbpp/<task id>``) of a cache position."""
    return f"Mbpp/{TASK_IDS[int(position)]}"


def task_number(task_id: str) -> int | None:
    """The MBPP task id of an evalplus id (``Mbpp/11`` -> 11); None when it is not of that form."""
    prefix, _, number = task_id.partition("/")
    return int(number) if prefix.lower() == "mbpp" and number.isdigit() else None
