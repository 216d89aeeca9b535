"""Slowed logins: with ``--auth``, each failed login makes the next attempt on that account wait longer.

Gradio calls :meth:`LoginThrottle.check` (an async function) for every ``POST /login``. Attempts on
one account (the configured user; every other name shares one account) are taken one at a time;
after ``n`` failures the next attempt first waits ``first * 2**(n-1)`` seconds, at most ``most``
seconds. A right password resets the count, so the owner gets in after at most one wait of
``most`` seconds even while someone guesses. Guessing 50 passwords with the defaults (0.5 s,
30 s) takes over 20 minutes instead of under a second.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

log = logging.getLogger(__name__)


class LoginThrottle:
    """The app's ``auth`` callable: checks (user, password) with an exponential delay after failures."""

    def __init__(self, user: str, password: str, first: float = 0.5, most: float = 30.0) -> None:
        self.user, self.password = user, password
        self.first, self.most = float(first), float(most)
        self.failures: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, account: str) -> float:
        """Seconds the next attempt on ``account`` waits before it is checked."""
        n = self.failures.get(account, 0)
        return 0.0 if n == 0 or self.first <= 0 else min(self.first * 2 ** min(n - 1, 30), self.most)

    async def check(self, username: str, password: str) -> bool:
        account = username if username == self.user else "*"  # bounded: two accounts at most
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:  # parallel guesses queue up behind each other's delay
            wait = self.delay(account)
            if wait:
                await asyncio.sleep(wait)
            ok = account == self.user and hmac.compare_digest(password.encode("utf-8", "surrogatepass"),
                                                              self.password.encode("utf-8", "surrogatepass"))
            if ok:
                self.failures.pop(account, None)
            else:
                self.failures[account] = self.failures.get(account, 0) + 1
                log.warning("failed login %d for %s; the next attempt waits %.1f s",
                            self.failures[account], "the user" if account == self.user else "another name",
                            self.delay(account))
            return ok
