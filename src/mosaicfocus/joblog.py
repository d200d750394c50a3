"""Logging for rule scripts: timestamped lines in the rule's log, user errors shown plainly."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MosaicFocusError


@contextmanager
def job_log(path: str | None, name: str) -> Iterator[Callable[[str], None]]:
    """Yield ``log(line)``; on failure write the reason to the log and stderr, then exit 1.

    A MosaicFocusError is a problem the user can fix, so it is shown as its
    message alone; anything else keeps its traceback for debugging.
    """
    handle = None
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w", buffering=1)
    started = time.perf_counter()

    def log(line: str) -> None:
        stamped = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {name}: {line}"
        if handle:
            handle.write(stamped + "\n")
        else:
            print(stamped, flush=True)

    try:
        yield log
        log(f"done in {time.perf_counter() - started:.1f} s")
    except MosaicFocusError as exc:
        log(f"ERROR: {exc}")
        print(f"{name}: ERROR: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except BaseException:
        log("ERROR:\n" + traceback.format_exc())
        raise
    finally:
        if handle:
            handle.close()
