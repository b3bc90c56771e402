"""The :class:`Shipper`: a Redis-backed store's batches, sent from one daemon thread.

Sequence numbers applied at most once, resends after Redis lost or rewound data, the
``store_degraded`` / ``store_recovered`` / ``store_resent`` lines, the shutdown's last
round (:meth:`Shipper.final_flush`), and how a store is given its shipper
(:func:`attach_shipper`, :func:`after_fork`). Talks to Redis only through
:mod:`bellwatch.store._redis_client`; besides it imports :mod:`bellwatch.log.pipeline`
(to write its lines), :mod:`bellwatch.schema` and :mod:`bellwatch._guard`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .._guard import record_internal_error
from ..log import pipeline
from ..schema import Ev, F
from ._redis_client import Script, ScriptConnection, backoff, connect, redis_errors, refused

__all__ = ["Shipper", "after_fork", "attach_shipper", "merge_entries"]

Take = Callable[[], tuple[Any, int]]
Send = Callable[[Any, str, int, str, Any], str]
Done = Callable[[Any], None]
After = Callable[[Any], None]
Merge = Callable[[Any, Any], Any]

HISTORY = 600  # acknowledged batches kept one by one (10 minutes at 1 s), older ones merged


class Shipper:
    """Ships buffered batches to Redis from one daemon thread, every ``interval`` seconds.

    Each batch carries this process's id and a sequence number, and the server side
    (a Lua script) applies a sequence number at most once: a batch whose reply was
    lost is resent unchanged and acknowledged as ``dup``, never counted twice.

    The sequence key Redis keeps per process (``proc:<id>``) is also this process's
    generation mark: each batch tells the script the last sequence number Redis
    acknowledged. A key that is missing answers ``reset`` (Redis came back empty):
    the batch is resent in ``full`` mode, carrying everything this process ever had
    acknowledged. A key *older* than that answers ``behind:<seq>`` (Redis came back
    from an older RDB snapshot, or a replica that lagged took over): exactly the
    acknowledged batches after ``<seq>`` are resent once, in ``resend`` mode (no
    summary lines for them), from a history of the last :data:`HISTORY` batches
    (older ones merged: a rewind that far back resends what it can and counts the
    rest in :attr:`unrecoverable`). Either way cluster totals converge again; after a
    rewind one ``store_resent`` line says how many updates went back (after a reset the
    full batch carries them all, and :attr:`resent` stays as it was).

    While Redis is down, slow or answering errors the store keeps buffering (its
    bound is ``buffer_max``), one ``store_degraded`` line is written, and the first
    successful round writes one ``store_recovered`` line.

    Args:
        url: the Redis URL.
        interval: seconds between rounds.
        name: what the lines call this shipper (``check`` field).
        take: returns the next batch and how many updates it holds (may be empty:
            an empty round is the heartbeat that notices a restarted Redis).
        send: ``(client, proc, seq, mode, batch) -> "ok" | "dup" | "reset" |
            "behind:<seq>"``; the script reads :attr:`acked` too.
        done: called with a batch once Redis acknowledged it.
        merge: ``merge(into, other)`` adds one batch to another (the history).
        after: called with the client after a successful round (cached reads).

    Raises:
        ImportError: the ``redis`` package is missing (with the install hint).
        ValueError: ``url`` is not a Redis URL.
    """

    answer_stands = 1.0  # seconds a failed round's answer stands for a shutdown's rounds

    def __init__(
        self,
        url: str,
        *,
        interval: float,
        name: str,
        take: Take,
        send: Send,
        done: Done,
        merge: Merge,
        after: After | None = None,
        timeout: float = 0.5,
    ) -> None:
        self.url = url
        self.interval = interval
        self.name = name
        self.timeout = timeout
        self._take, self._send, self._done, self._after = take, send, done, after
        self._merge = merge
        # Fail at construction, not in the thread: a missing extra or a bad URL raises here.
        connect(url, timeout=timeout).close()
        self.forked()

    def forked(self) -> None:
        """Start over as a new process (after ``fork``): new id, nothing in flight."""
        self.proc = os.urandom(6).hex()
        self.seq = 0
        self.acked = 0  # the last sequence number Redis acknowledged
        self.mode = "first"
        self.inflight: tuple[int, Any, int] | None = None
        self.inflight_updates = 0
        # (first seq, last seq, batch, updates) of acknowledged batches, oldest first
        self.history: deque[tuple[int, int, Any, int]] = deque()
        self.resent = 0  # updates resent after Redis lost them
        self.unrecoverable = 0  # updates lost with history merged past the rewind point
        self.degraded = False
        self.refused = False  # whether the last failed round was refused outright
        self.final_retries = 0  # rounds final_flush() tried again
        self.last_error: str | None = None
        self.since: float | None = None
        self._failed_at = 0.0  # when a round last failed (monotonic)
        self.rounds = 0
        self._thread: threading.Thread | None = None
        # Set once the thread is started: a plain attribute the request path reads
        # instead of calling start() every time.
        self.running = False
        self._client: Any = None
        self._link = ScriptConnection()  # the connection run() keeps
        # Fresh locks and events: the parent's may have been held at the fork.
        self._round = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()

    def start(self) -> None:
        """Start the background thread if it is not running (idempotent, cheap)."""
        if self._thread is None and not self._stop.is_set():
            with self._round:
                if self._thread is None and not self._stop.is_set():
                    thread = threading.Thread(
                        target=self._run, name=f"bellwatch-{self.name}", daemon=True
                    )
                    thread.start()
                    self._thread = thread
                    self.running = True

    def wake(self) -> None:
        """Run the next round now instead of at the end of the interval."""
        self._wake.set()

    def _run(self) -> None:
        failed = 0
        while not self._stop.is_set():
            # While Redis is down the rounds back off (2x, 4x the interval... up to
            # BACKOFF_MAX): each attempt to connect costs the event loop GIL handovers, and
            # an outage is no reason to pay them every second. A reader (wake) still
            # gets a round at once, and so does flush().
            self._wake.wait(backoff(self.interval, failed))
            self._wake.clear()
            if self._stop.is_set():
                break
            failed = 0 if self.flush() else failed + 1

    def flush(self) -> bool:
        """One round now: resend what is in flight, then ship the buffer; never raises.

        Returns whether Redis acknowledged everything it was sent.
        """
        with self._round:
            ok, line = self._round_locked()
        if line is not None:
            # Written once the round lock is free: writing a line may finish queued
            # requests (bellwatch.log.deferred), whose counts come back to this store.
            _emit(*line)
        return ok

    def final_flush(self, wait: float) -> bool:
        """One last round (a shutdown's); whether Redis acknowledged everything.

        A round that failed on a Redis not known to be down is tried again for up to
        ``wait`` seconds: a reply lost to a timeout or a reset connection (a Redis that
        stalled, a replica being promoted) may still be applied, and resending the round
        returns what it handed out. A Redis already known to be down is not waited for,
        nor one that refused the connection: nothing listens there, nothing was applied,
        and the caller states what was never acknowledged itself. Nor is a round tried
        at all when one found Redis down a moment ago (the shutdown's other rounds, or
        the thread's): with a Redis that stalls, each try would wait out the timeout.
        """
        if self._just_failed():
            return False
        was_down = self.degraded
        ok = self.flush()
        deadline = time.monotonic() + wait
        while not ok and not was_down and not self.refused and time.monotonic() < deadline:
            self.final_retries += 1
            time.sleep(0.1)
            ok = self.flush()
        return ok

    def _round_locked(self) -> tuple[bool, tuple[str, dict[str, Any]] | None]:
        errors = redis_errors()
        shipped = 0
        line: tuple[str, dict[str, Any]] | None = None
        try:
            if self._client is None:
                self._client = connect(self.url, timeout=self.timeout)
            for _ in range(2):  # what was in flight, then what buffered meanwhile
                if self.inflight is None:
                    batch, n = self._take()
                    self.seq += 1
                    self.inflight, self.inflight_updates = (self.seq, batch, n), n
                seq, batch, n = self.inflight
                reply = self._send(self._client, self.proc, seq, self.mode, batch)
                if reply == "reset":
                    reply = self._send(self._client, self.proc, seq, "full", batch)
                elif reply.startswith("behind:"):
                    line = self._resend(int(reply.partition(":")[2]), seq, batch)
                self._done(batch)
                self._remember(seq, batch, n)
                self.inflight, self.inflight_updates, self.mode = None, 0, "delta"
                shipped += n
                if not self.degraded:
                    break
            if self._after is not None:
                self._after(self._client)
        except errors as exc:
            return False, self._down(exc)
        except Exception as exc:
            record_internal_error(exc)
            return False, None
        self.rounds += 1
        return True, self._up(shipped) if self.degraded else line

    def run(self, client: Any, script: Script, args: list[Any]) -> Any:
        """Run ``script`` with ``args`` on a connection of ``client`` kept for it; the reply.

        Called with the round lock held, from :meth:`flush`'s ``send``; one write and
        one read (see :class:`~bellwatch.store._redis_client.ScriptConnection`).
        """
        return self._link.run(client, script, args)

    def _resend(self, kept: int, seq: int, batch: Any) -> tuple[str, dict[str, Any]]:
        """Redis holds our batches up to ``kept`` only: send the later ones again, once."""
        lost: Any = None
        updates = 0
        for first, last, old, n in self.history:
            if first > kept:
                lost = self._merge(lost, old)  # the first call copies: history stays as is
                updates += n
            elif last > kept:  # merged across the rewind point: cannot be split
                self.unrecoverable += n
        payload = batch if lost is None else self._merge(lost, batch)
        self._send(self._client, self.proc, seq, "resend", payload)
        self.resent += updates
        return "warning", {F.EVENT: Ev.STORE_RESENT, F.CHECK: self.name, F.COUNT: updates}

    def _remember(self, seq: int, batch: Any, n: int) -> None:
        """Keep an acknowledged batch, so that a Redis that goes back in time gets it again."""
        self.acked = seq
        history = self.history
        history.append((seq, seq, batch, n))  # the store copied what it keeps: ours now
        if len(history) > HISTORY:
            first, _, old, n_old = history.popleft()
            _, last, newer, n_newer = history.popleft()
            history.appendleft((first, last, self._merge(old, newer), n_old + n_newer))

    def _down(self, exc: BaseException) -> tuple[str, dict[str, Any]] | None:
        # What failed and why ("ConnectionError: Error 111 connecting to redis:6379.
        # Connection refused."): a URL's password never appears in redis-py's messages,
        # and the line's redactor masks what looks like one anyway.
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.refused = refused(exc)
        self._failed_at = time.monotonic()
        if self.degraded:
            return None
        self.degraded = True
        self.since = time.time()
        return "warning", {F.EVENT: Ev.STORE_DEGRADED, F.CHECK: self.name,
                           F.MESSAGE: self.last_error}  # fmt: skip

    def _up(self, shipped: int) -> tuple[str, dict[str, Any]]:
        self.degraded = self.refused = False
        self.since = None
        return "info", {F.EVENT: Ev.STORE_RECOVERED, F.CHECK: self.name, F.COUNT: shipped}

    def _just_failed(self) -> bool:
        """Whether Redis is known down and a round found it so a moment ago."""
        return self.degraded and time.monotonic() - self._failed_at < self.answer_stands

    def close(self) -> None:
        """Stop the thread and try one last round (bounded by the socket timeout), unless
        one found Redis down a moment ago."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.timeout * 4 + 1.0)
        if not self._just_failed():
            self.flush()
        self._link.close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _emit(method: str, event: dict[str, Any]) -> None:
    pipeline.current().emit(method, event)


def merge_entries(into: dict[str, list[Any]] | None, other: dict[str, list[Any]]) -> Any:
    """Add the error store's batch ``other`` into ``into`` (a copy when ``into`` is None):
    ``[n, type, message, severity, endpoint, first_seen, last_seen]`` per fingerprint."""
    out = {} if into is None else into
    for key, entry in other.items():
        mine = out.get(key)
        if mine is None:
            out[key] = list(entry)
        else:
            mine[0] += entry[0]
            mine[6] = max(mine[6], entry[6])
    return out


def attach_shipper(
    store: Any,
    url: str,
    *,
    name: str,
    interval: float,
    after: Callable[[Any], None],
    timeout: float,
    merge: Merge = merge_entries,
) -> None:
    """Give a Redis-backed store its lock, its :class:`Shipper` and fork safety.

    ``store`` provides ``_take``, ``_send``, ``_done`` and ``_clear``; ``merge`` adds
    one of its batches to another. After a fork (gunicorn's workers) the runtime
    calls :func:`after_fork` on the stores it owns.
    """
    store._lock = threading.Lock()
    store.shipper = Shipper(
        url,
        interval=interval,
        name=name,
        take=store._take,
        send=store._send,
        done=store._done,
        merge=merge,
        after=after,
        timeout=timeout,
    )
    store._clear()


def after_fork(store: Any) -> None:
    """In a forked child: the store starts from zero under the child's own process id,
    with a fresh lock (the parent's connections are never used)."""
    store._lock = threading.Lock()
    store._clear()
    store.shipper.forked()
