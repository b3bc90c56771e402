"""The :class:`Runtime`: one per process, the composition root.

It resolves the settings once in :meth:`Runtime.configure` and hands them to every
component (the pipeline, the monitor and its store, the aggregator and its alerts,
EMF, the health checks); components, readings and lifecycle live in their own
modules and are joined here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

from structlog.typing import Processor

from .. import _settings
from .._settings import ConfigError, Settings
from ..errors._handover import ErrorStep
from ..log import pipeline, pseudonym, stdlib
from ..log.logfile import RotatingFile
from ..log.pipeline import Pipeline
from ..log.sinks import Sink
from .components import errors_key, monitor_key, users_key
from .lifecycle import Lifecycle
from .readings import Readings

__all__ = ["Runtime"]


class Runtime(Readings, Lifecycle):
    """Owns the pipeline, the monitor, the aggregator, the stores and the background threads.

    One per process (:data:`bellwatch._runtime.runtime`). Every getter builds its
    component from the settings in force on first use; :attr:`generation` changes
    whenever a component is replaced, so holders (the middleware) know to look again.
    """

    def configure(
        self,
        *,
        stream: IO[Any] | None = None,
        processors: Sequence[Processor] = (),
        **settings: Any,
    ) -> Pipeline:
        """See :func:`configure`."""
        resolved = _settings.resolve(**settings)
        with self._lock:
            self.deferred.drain()  # requests that ended under the previous configuration
            out = (stream if stream is not None else sys.stdout) if resolved.stdout else None
            file = None
            if resolved.log_file:
                path = Path(resolved.log_dir) / f"{resolved.service}.jsonl"
                try:
                    file = RotatingFile(
                        path,
                        resolved.log_max_bytes,
                        resolved.log_backups,
                        resolved.log_flush,
                        flusher=self.flusher,
                        on_full=resolved.log_blocked,
                    )
                except OSError as exc:
                    raise ConfigError(f"log_dir: cannot open {path}: {exc}") from exc
            sink = Sink(out, file, self.deferred, on_full=resolved.log_blocked)
            self.flusher.tick = min(0.2, resolved.log_flush or 0.2)
            new = Pipeline(resolved, sink, processors, errors=ErrorStep(self.aggregator))
            pseudonym.install(new.uid_hasher)  # bind() hashes uid from now on (hash_uid)
            previous = pipeline.install(new)
            if previous is not None:
                previous.close()
            if resolved.capture_stdlib:
                stdlib.install(new)
            else:
                stdlib.uninstall()
            self._follow(resolved)
        self.install_signal_handlers()
        return new

    def _follow(self, s: Settings) -> None:
        """Bring the monitor and aggregator in line with ``s``; build what needs a server now.

        A Redis URL is connected to here, so a bad one fails ``configure`` (loudly, at
        start-up) rather than the first request.
        """
        if self._monitor is not None:
            if self._monitor_built is not None and self._monitor_built != monitor_key(s):
                self._drop_monitor()
            else:
                self._monitor.slow_threshold = s.slow_threshold
        if self._aggregator is not None and self._errors_built != errors_key(s):
            self._drop_aggregator()
        if self._users_built is not None and self._users_built != users_key(s):
            self._drop_users()
        self.generation += 1
        if not (s.redis_url or s.emf):
            return
        try:
            self.monitor()
            if s.redis_url:
                self.aggregator()
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"redis_url: {exc}") from exc

    def restore(self, previous: Pipeline | None) -> None:
        """Configure again as ``previous`` was configured (``None``: unconfigured).

        For :func:`bellwatch.testing.capture_logs`: the numbers and checks stay, the
        error aggregator starts afresh, as after any change of configuration.
        """
        if previous is not None:
            settings = {f.name: getattr(previous.settings, f.name) for f in fields(Settings)}
            stream = previous.sink.stream
            self.configure(stream=stream, processors=previous.extra, **settings)
            return
        with self._lock:
            self.deferred.drain()
            self._drop_aggregator()
            pseudonym.forget()
            old = pipeline.install(None)
            if old is not None:
                old.close()
                stdlib.uninstall()
            self.generation += 1
