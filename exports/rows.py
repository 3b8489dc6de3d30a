"""What the rows of a release are made from, besides the battles' own columns: the keyed hash of
the ids, the catalogue's models, and the models table's rows."""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Model(NamedTuple):
    slug: str
    name: str
    params_b: float
    active_params_b: float
    license_kind: str


class Hasher:
    """Ids for one release: keyed BLAKE2b (a MAC) of the database ids under a key drawn for the
    release and never stored, so a release's ids cannot be traced back to the database nor
    matched with another release's."""

    def __init__(self, key: bytes):
        # The keyed state, copied for each id: keying BLAKE2b for each of two million ids took a
        # third of the hashing time.
        self._keyed = hashlib.blake2b(key=key, digest_size=16)

    def __call__(self, kind: str, value) -> str:
        digest = self._keyed.copy()
        digest.update(f"{kind}:{value}".encode())
        return digest.hexdigest()


def model_row(llm) -> tuple:
    return (
        llm.slug,
        llm.name,
        llm.organization,
        llm.license,
        llm.license_kind,
        llm.params_b,
        llm.active_params_b,
        llm.architecture,
        llm.release_date,
        llm.hf_id,
        llm.enabled,
        llm.description_fr,
        llm.description_en,
    )
