"""bench/middleware.py's like-for-like peers: each (b) stack writes bellwatch's request line.

Each variant's line comes from its own process (``bench/middleware.py --child line V``):
the stacks configure process-wide loggers. Needs the bench extra (the peers); without
it, the checks that build their apps are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bellwatch._settings import Settings
from bellwatch.log import logfile

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "middleware.py"

# bench/_stacks.py, loaded by path (bench/ is not a package; see tests/test_docs.py).
_spec = importlib.util.spec_from_file_location("bench_stacks", ROOT / "bench" / "_stacks.py")
assert _spec is not None and _spec.loader is not None
stacks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stacks)

LIKE_FOR_LIKE = [v for v, (_, setup) in stacks.VARIANTS.items() if setup == "b"]
PEERS = ("fastapi", "structlog", "orjson", "asgi_correlation_id",
         "prometheus_fastapi_instrumentator", "starlette_exporter")  # fmt: skip


def line_of(variant: str) -> str:
    """The request line ``variant`` writes, from a process of its own."""
    for module in PEERS:
        pytest.importorskip(module, reason="the bench extra: pip install 'bellwatch[bench]'")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", "line", variant],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line: str = json.loads(done.stdout.splitlines()[-1])["line"]
    return line


@pytest.fixture(scope="module")
def bellwatch_shape() -> dict[str, Any]:
    """The shape of the line bellwatch's middleware writes to its file."""
    shape: dict[str, Any] = stacks.line_shape(line_of("bellwatch"))
    return shape


class TestLikeForLike:
    def test_buffer_is_bellwatchs(self) -> None:
        """The (b) files buffer as much as bellwatch's file batches before writing."""
        assert stacks.BUF == logfile._BATCH_BYTES

    def test_flush_tick_is_bellwatchs(self) -> None:
        """The (b) files are written out on bellwatch's default log_flush tick."""
        assert Settings().log_flush == stacks.FLUSH_EVERY

    def test_every_peer_has_both_setups(self) -> None:
        """Each (a) stack has a (b) file row and a (b) stdout row."""
        assert len(stacks.PEERS_A) == len(stacks.PEERS_B) == len(stacks.PEERS_B_STDOUT) == 3

    @pytest.mark.parametrize("variant", LIKE_FOR_LIKE)
    def test_line_has_bellwatchs_shape(self, variant: str, bellwatch_shape: dict[str, Any]) -> None:
        """The (b) line has bellwatch's keys in its order, its values and ts/cid formats."""
        assert stacks.line_shape(line_of(variant)) == bellwatch_shape

    def test_stdout_line_is_the_file_line(self, bellwatch_shape: dict[str, Any]) -> None:
        """bellwatch writes the same line to stdout as to its file."""
        assert stacks.line_shape(line_of("bellwatch_stdout")) == bellwatch_shape


class TestLineShape:
    LINE = (
        '{"ts":%s,"level":"INFO","event":"request_complete","cid":"0123456789ab",'
        '"method":"GET","path":"/api/users/{user_id}","status":200,"duration":0.001}'
    )

    def now_ms(self) -> int:
        return int(stacks.time.time() * 1000)

    def test_epoch_ms_and_iso_differ(self) -> None:
        """An ISO timestamp where bellwatch writes epoch ms is another shape."""
        ours = stacks.line_shape(self.LINE % self.now_ms())
        iso = stacks.line_shape(self.LINE % '"2026-12-07T09:00:00.000Z"')
        assert ours["ts"] == "epoch ms int"
        assert iso != ours

    def test_epoch_seconds_differ(self) -> None:
        """Epoch seconds (a float) are not epoch milliseconds."""
        secs = stacks.line_shape(self.LINE % (self.now_ms() / 1000))
        assert secs["ts"] != "epoch ms int"

    def test_key_order_counts(self) -> None:
        """The same keys in another order are another line."""
        record = json.loads(self.LINE % self.now_ms())
        moved = {"level": record.pop("level"), **record}
        assert stacks.line_shape(json.dumps(moved)) != stacks.line_shape(self.LINE % self.now_ms())

    def test_uuid_cid_differs(self) -> None:
        """A 32-hex uuid as cid is not bellwatch's 12-hex id."""
        record = json.loads(self.LINE % self.now_ms())
        record["cid"] = "e815a73aa1b54fc68aafb0cad51f76f4"
        assert stacks.line_shape(json.dumps(record))["cid"] != "12 hex"

    def test_raw_path_differs(self) -> None:
        """The raw path where bellwatch writes the route template is another line."""
        record = json.loads(self.LINE % self.now_ms())
        record["path"] = "/api/users/42"
        assert stacks.line_shape(json.dumps(record)) != stacks.line_shape(self.LINE % self.now_ms())
