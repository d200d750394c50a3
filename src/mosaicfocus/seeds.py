"""One base seed drives everything; each stage gets its own stream from it."""

import hashlib


def derive_seed(base_seed: int, *keys) -> int:
    """A 63-bit seed for one purpose (e.g. ``("train", 3, "init")``).

    Hashing keeps the streams independent: changing the number of models or
    the order stages run in never shifts another stage's random numbers.
    """
    text = "/".join([str(int(base_seed))] + [str(k) for k in keys])
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)
