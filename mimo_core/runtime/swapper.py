"""Base and Instruct taking turns on one device.

When the memory plan (:mod:`.placement`) finds that Base and Instruct do not both fit on their
shared device, they take turns: a request for the unloaded one waits until the loaded one has
no request left, then the models swap (requests wait, none is lost). While requests of the
other model wait, new requests of the loaded one queue behind them, so neither side starves.

:class:`Swapper` keeps the counts (requests in flight and waiting, per LM) and makes the
swaps; the manager supplies how a model is evicted and restored (:class:`~.loading.Loader`).
Without a swapping plan it only counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Optional

from ..resolve import Role
from .loaded import LoadedLM
from .placement import LM_ROLES, free_memory

log = logging.getLogger(__name__)



def other_lm(role: Role) -> Role:
    return Role.BASE if role == Role.INSTRUCT else Role.INSTRUCT


class Swapper:
    """Turns between the LMs in ``lms`` (the manager's table, Role -> LoadedLM, read here);
    ``evict`` / ``restore`` take a model's weights off / back onto its device."""

    def __init__(self, lms: dict[Role, LoadedLM], evict: Callable[[LoadedLM], None],
                 restore: Callable[[Role, LoadedLM], None]):
        self._lms, self._evict, self._restore = lms, evict, restore
        self.enabled = False                  # set from the memory plan, before any LM loads
        self.swaps = 0
        self._turns = threading.Condition()   # guards the counts below and every swap
        self._in_flight = {role: 0 for role in LM_ROLES}
        self._wanted = {role: 0 for role in LM_ROLES}

    def waiting(self, role: Role) -> int:
        """Requests of ``role`` waiting for its turn."""
        return self._wanted[role]

    def first_load(self, role: Role, load: Callable[[], LoadedLM]) -> LoadedLM:
        """``load()`` ``role``'s model, after the other one has left the device when they swap."""
        if not self.enabled:
            return load()
        with self._turns:
            self._wanted[role] += 1
            try:
                self._wait_and_swap(role, None)          # the other model leaves first
            finally:
                self._wanted[role] -= 1
            return load()

    def take_turn(self, role: Role, *, count: bool) -> None:
        """Before a request of ``role`` runs: its model on the device (when swapping, after the
        other model's requests have ended); ``count``: it is now in flight."""
        with self._turns:
            if self.enabled:
                self._wanted[role] += 1
                try:
                    self._wait_and_swap(role, self._lms.get(role))
                finally:
                    self._wanted[role] -= 1
            if count:
                self._in_flight[role] += 1

    def leave(self, role: Role) -> None:
        """A request of ``role`` has ended."""
        with self._turns:
            self._in_flight[role] -= 1
            self._turns.notify_all()

    def _wait_and_swap(self, role: Role, loaded: Optional[LoadedLM]) -> None:
        """(Holding ``_turns``.) Wait until ``role``'s model may be on the device, swapping if
        needed."""
        other = other_lm(role)
        while True:
            theirs = self._lms.get(other)
            theirs_resident = theirs is not None and theirs is not loaded and theirs.resident
            if loaded is not None and loaded.resident:
                if not self._wanted[other]:
                    return
            elif not theirs_resident or self._in_flight[other] == 0:
                if theirs_resident:
                    self._swap_out(other, theirs)
                if loaded is not None:
                    self._swap_in(role, loaded)
                return
            self._turns.wait()

    def _swap_out(self, role: Role, loaded: LoadedLM) -> None:
        self._evict(loaded)
        free_memory()
        self.swaps += 1
        log.info("swapped the %s model out to make room", role.value)

    def _swap_in(self, role: Role, loaded: LoadedLM) -> None:
        self._restore(role, loaded)
        log.info("swapped the %s model in (%.1f s)", role.value, loaded.load_seconds)
