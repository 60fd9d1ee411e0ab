"""VoiceStore shared by threads and by processes: nothing lost, names unique, limits held.

Processes are spawned (a fresh interpreter each, as separate app workers would be) and
start their writes at the same instant, so their transactions really overlap.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from mimo_core.voices import VoiceStore

from .voices_support import add, add_many, add_one

PROCESSES = 4
PER_PROCESS = 8


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as ex:
        list(ex.map(abs, range(PROCESSES)))              # start the workers before any clock starts
        yield ex


def start_soon() -> float:
    return time.time() + 0.3


def test_threads_add_concurrently_and_readers_never_fail(tmp_path):
    store = VoiceStore(tmp_path)
    stop, seen, failures = threading.Event(), ([], []), []

    def reader(counts):
        while not stop.is_set():
            try:
                voices = store.list("alice")
                assert all(v.ok for v in voices)         # never a row before its file
                counts.append(len(voices))
            except Exception as e:                       # noqa: BLE001 - collected for the assert
                failures.append(e)
            time.sleep(0.002)

    def writer(w):
        for i in range(5):
            add(store, f"t{w}-{i}", seed=i)

    readers = [threading.Thread(target=reader, args=(counts,)) for counts in seen]
    for t in readers:
        t.start()
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(writer, range(8)))
    stop.set()
    for t in readers:
        t.join()
    assert failures == []
    assert len(store.list("alice")) == 40
    assert all(counts == sorted(counts) and counts for counts in seen)   # each reader: only growth
    store.close()


def test_threads_with_separate_stores_on_one_folder(tmp_path):
    stores = [VoiceStore(tmp_path) for _ in range(4)]
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda s: [add(s, f"{id(s)}-{i}", owner="bob", seed=i) for i in range(5)], stores))
    assert len(VoiceStore(tmp_path).list("bob")) == 20
    for s in stores:
        s.close()


def test_processes_adding_at_once_lose_nothing(tmp_path, pool):
    at = start_soon()
    errors = list(pool.map(add_many, [str(tmp_path)] * PROCESSES,
                           [f"user{p}" for p in range(PROCESSES)], [PER_PROCESS] * PROCESSES,
                           [at] * PROCESSES))
    assert errors == [[]] * PROCESSES
    with VoiceStore(tmp_path) as store:
        for p in range(PROCESSES):
            names = [v.name for v in store.list(f"user{p}") if v.ok]
            assert names == sorted(f"user{p}-{i}" for i in range(PER_PROCESS))
        assert len(list((tmp_path / "audio").iterdir())) == PROCESSES * PER_PROCESS


def test_processes_racing_for_one_name_one_wins(tmp_path, pool):
    VoiceStore(tmp_path).close()                         # schema made before the race
    at = start_soon()
    results = list(pool.map(add_one, [str(tmp_path)] * PROCESSES, ["Same", "SAME", "same", "Same"],
                            ["u"] * PROCESSES, range(PROCESSES), [at] * PROCESSES))
    assert sorted(results) == ["VoiceExists"] * (PROCESSES - 1) + ["ok"]
    with VoiceStore(tmp_path) as store:
        assert len(store.list("u")) == 1
        assert len(list((tmp_path / "audio").iterdir())) == 1   # the losers left no file


def test_processes_cannot_pass_the_count_limit_together(tmp_path, pool):
    VoiceStore(tmp_path).close()
    at = start_soon()
    errors = list(pool.map(add_many, [str(tmp_path)] * PROCESSES, ["same-owner"] * PROCESSES,
                           [3] * PROCESSES, [at] * PROCESSES, [5] * PROCESSES,
                           [f"p{p}" for p in range(PROCESSES)]))
    flat = [e for errs in errors for e in errs]
    assert len(flat) == PROCESSES * 3 - 5 and all(e.startswith("VoiceLimitError") for e in flat)
    with VoiceStore(tmp_path) as store:
        assert len(store.list("same-owner")) == 5
        assert len(list((tmp_path / "audio").iterdir())) == 5
