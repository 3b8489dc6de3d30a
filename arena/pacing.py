"""Both answers shown at one common pace, so that speed does not tell which model is which.

Without it, a visitor sees each model's own generation speed, and the faster side is most
often the smaller model. The pacer holds each side's generated text and releases it in
ticks, the same number of characters to every side at once (a fixed step, whatever the
tokens), never more than the slowest side still generating has produced (so a slow model
slows both sides, not only its own), and at most `chars_per_s`. A side's `done` frame waits until every side is finished and
shown, then all go together. What a visitor can still see is each answer's length, the
pace of the slower model when it is slower than `chars_per_s`, and a retried side's own
pace under `chars_per_s`: it is paced alone, the other side being over.

Pure asyncio: the consumer feeds it (`push`, `finish`, `drop`) and it calls `send`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class _Side:
    text: str = ""  # generated so far
    shown: int = 0  # characters released
    seq: int = 0
    done_frame: dict | None = None  # set when generation finished

    @property
    def finished(self) -> bool:
        return self.done_frame is not None

    @property
    def waiting(self) -> int:
        return len(self.text) - self.shown


@dataclass
class Pacer:
    send: Callable[[dict], Awaitable[None]]
    sides: tuple[str, ...]
    chars_per_s: float
    # A step is chars_per_s x tick_s characters (3 at 120/s): a release waits until every
    # side still generating has a whole step, so a long step holds the text back (6
    # characters put the paced first delta 40 ms later with the tiny test models,
    # bench/arena_overhead.py); a short one sends more frames (40 a second per side here).
    tick_s: float = 0.025
    _state: dict[str, _Side] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self):
        self._state = {side: _Side() for side in self.sides}

    # -- fed by the streaming tasks ------------------------------------------------------
    def push(self, side: str, text: str) -> None:
        self._state[side].text += text
        self._wake.set()

    def finish(self, side: str, done_frame: dict) -> None:
        """Generation ended; `done_frame` goes out once every side is finished and shown."""
        self._state[side].done_frame = done_frame
        self._wake.set()

    def drop(self, side: str) -> None:
        """The side failed (its error frame is sent at once): it no longer sets the pace."""
        self._state.pop(side, None)
        self._wake.set()

    # -- what the visitor saw --------------------------------------------------------------
    def shown_text(self, side: str) -> str | None:
        """The side's text released so far; None for a side this pacer does not hold."""
        s = self._state.get(side)
        return None if s is None else s.text[: s.shown]

    def unshown(self) -> dict[str, str]:
        """For every side whose answer was not all shown (still generating, or held for the
        other side), what was shown. A cut answer is kept as it was seen: the text generated
        beyond it would tell how far each model had got, which is its speed."""
        return {side: s.text[: s.shown] for side, s in self._state.items() if s.waiting or not s.finished}

    # -- the release loop ------------------------------------------------------------------
    def _step(self) -> int:
        """Characters every side may show more this tick: a whole step, once every side still
        generating has that much waiting, else none. Showing what the slowest side had (its
        last tokens) would cut that side's text at its token boundaries and the others' at
        random places: which side is the slower model would show in the chunks."""
        step = int(self.chars_per_s * self.tick_s) or 1
        if not any(s.shown for s in self._state.values()):
            # The first release, one character each as soon as every side has text: the
            # first words come as soon as the slower side's first token, and one character
            # says nothing of where that token ends.
            step = 1
        if any(not s.finished and s.waiting < step for s in self._state.values()):
            return 0
        return step

    async def run(self) -> None:
        while self._state:
            step = self._step()
            released = False
            for side, s in self._state.items():
                n = min(step, s.waiting)
                if n > 0:
                    s.seq += 1
                    chunk = s.text[s.shown : s.shown + n]
                    s.shown += n
                    released = True
                    await self.send({"type": "delta", "side": side, "seq": s.seq, "text": chunk})
            if all(s.finished and s.waiting == 0 for s in self._state.values()):
                for s in self._state.values():
                    await self.send({**s.done_frame, "seq": s.seq + 1})
                return
            if released:
                await asyncio.sleep(self.tick_s)
            else:  # nothing to show yet: wait for text rather than spin
                self._wake.clear()
                await self._wake.wait()
