"""The relay's usage journal: every answered call's usage event is written here, durably,
before the caller gets the end of its answer, and removed only after ingest_usage committed
it; what a dead process left is replayed (`orphans`), safely, since ingestion counts a
request_id once ever (docs/relay.md, "No answered call goes unbilled").

Two stores, one interface (`append` -> tokens, `ack(tokens)`, `orphans()`); which one is
RELAY_USAGE_JOURNAL:
- "redis" (the default with REDIS_URL): one stream, `relay:usage`, shared by every relay
  process. XADD per event, XDEL after the commit. An entry older than
  RELAY_USAGE_RECOVER_AFTER_SECONDS is an orphan: a live process bills its calls within
  RELAY_BILL_EVERY_SECONDS, so only a dead (or failing) one leaves entries that old. The
  stream is as durable as the Redis server's persistence (appendonly, operations.md).
- "file" (without Redis: the embedded set-up): files of JSON lines in RELAY_JOURNAL_DIR, one
  segment per batch (fewer while batches fail), each held under an exclusive flock(2) by its
  process for as long as it lives; appends are fdatasync'ed. A segment nobody holds the lock
  of belongs to a dead process (the kernel drops a killed process's locks): that is the
  orphan test, exact, with no waiting. The files are local, so recovery runs on the same
  host (any relay process at start-up and every RELAY_USAGE_RECOVER_AFTER_SECONDS).
"""

import fcntl
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from functools import partial

from django.conf import settings
from django_redis import get_redis_connection

STREAM = "relay:usage"
RECOVER_BATCH = 1000  # ingest_usage takes up to 5,000


def store():
    """This process's journal, as RELAY_USAGE_JOURNAL says."""
    if settings.RELAY_USAGE_JOURNAL == "redis":
        return RedisJournal()
    return FileJournal(settings.RELAY_JOURNAL_DIR)


def _dumps(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"))


class RedisJournal:
    def __init__(self):
        self.redis = get_redis_connection("default")

    def append(self, events: list[dict]) -> list:
        if len(events) == 1:  # a pipeline costs a lone call about half as much CPU again
            return [self.redis.xadd(STREAM, {"e": _dumps(events[0])})]
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(STREAM, {"e": _dumps(event)})
        return pipe.execute()

    def ack(self, tokens: list) -> None:
        if tokens:
            self.redis.xdel(STREAM, *tokens)

    def orphans(self) -> Iterator[tuple[list[dict], Callable[[], None]]]:
        """(events, acknowledge) for the entries older than RELAY_USAGE_RECOVER_AFTER_SECONDS,
        oldest first, in batches."""
        age_ms = int(settings.RELAY_USAGE_RECOVER_AFTER_SECONDS * 1000)
        seconds, micros = self.redis.time()
        cutoff = f"({seconds * 1000 + micros // 1000 - age_ms}"  # Redis' clock, ids' clock
        start = "-"
        while True:
            entries = self.redis.xrange(STREAM, start, cutoff, count=RECOVER_BATCH)
            if not entries:
                return
            tokens = [token for token, _ in entries]
            yield [json.loads(fields[b"e"]) for _, fields in entries], partial(self.ack, tokens)
            start = b"(" + tokens[-1]

    def rotate(self) -> None:
        pass

    def close(self) -> None:
        pass


class FileJournal:
    """Segments `<pid>-<random>-<n>.jsonl`; `rotate()` (at each batch) starts a new one, and
    a segment is deleted once every event in it is acknowledged. Thread-safe: appends come
    from the writer thread, acknowledgements from the biller's."""

    SUFFIX = ".jsonl"

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.lock = threading.Lock()
        self.prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.number = 0
        self.current: str | None = None  # the segment appends go to
        self.files: dict[str, int] = {}  # segment -> open, locked descriptor
        self.unacked: dict[str, int] = {}  # segment -> events not yet acknowledged

    def _open(self) -> str:
        self.number += 1
        path = os.path.join(self.directory, f"{self.prefix}-{self.number}{self.SUFFIX}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _sync_directory(self.directory)  # the new name survives a crash of the host too
        self.files[path], self.unacked[path], self.current = fd, 0, path
        return path

    def append(self, events: list[dict]) -> list:
        data = "".join(_dumps(event) + "\n" for event in events).encode()
        with self.lock:
            path = self.current or self._open()
            os.write(self.files[path], data)  # one write: appended whole
            os.fdatasync(self.files[path])
            self.unacked[path] += len(events)
        return [path] * len(events)

    def rotate(self) -> None:
        """Later appends go to a new segment, so that the current one is deleted once its
        batch is acknowledged; not while an older one waits (the database is down): two open
        files at most."""
        with self.lock:
            if self.current is not None and self.unacked[self.current] and len(self.files) == 1:
                self.current = None

    def ack(self, tokens: list) -> None:
        with self.lock:
            for path in tokens:
                self.unacked[path] -= 1
            for path in set(tokens):
                if self.unacked[path] == 0 and path != self.current:
                    self._remove(path)

    def _remove(self, path: str) -> None:
        os.unlink(path)
        os.close(self.files.pop(path))
        del self.unacked[path]

    def close(self) -> None:
        """At shutdown: delete what is acknowledged; the rest stays for recovery."""
        with self.lock:
            self.current = None
            for path in [p for p, count in self.unacked.items() if count == 0]:
                self._remove(path)
            for fd in self.files.values():
                os.close(fd)  # releases the lock: the segments are orphans now
            self.files.clear()

    def orphans(self) -> Iterator[tuple[list[dict], Callable[[], None]]]:
        """(events, acknowledge) for the segments no live process holds, in batches; a
        segment is deleted when its last batch is acknowledged. A torn last line (a host
        crash mid-write) is skipped: it was never synced, so its call was never answered."""
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(self.SUFFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # its owner acknowledged it meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live process holds it
            try:
                if not _same_file(fd, path):
                    continue  # deleted (acknowledged) between open and lock
                with os.fdopen(os.dup(fd), "rb") as lines:
                    events = [json.loads(line) for line in lines if line.endswith(b"\n")]
                steps = range(0, len(events), RECOVER_BATCH)
                chunks = [events[i : i + RECOVER_BATCH] for i in steps] or [[]]  # empty: deleted
                for number, chunk in enumerate(chunks, start=1):
                    yield chunk, partial(os.unlink, path) if number == len(chunks) else _nothing
            finally:
                os.close(fd)


def _nothing() -> None:
    pass


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
