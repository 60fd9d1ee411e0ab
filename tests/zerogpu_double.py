"""A test double of ``spaces.GPU`` that behaves like ZeroGPU where it matters to us.

* The first decorated call forks ONE worker process (the fork point) that serves every later
  call, like ZeroGPU reusing an idle worker. Whatever the parent starts after the fork point
  (a model loaded, a function decorated) does not exist in the worker.
* Arguments go to the worker pickled, results (each item of a generator) come back pickled.
* A thread of the parent does not exist in the worker: a call that waits on one hangs, and
  the double fails it after ``timeout_s`` with a message saying so.
* ``forbid``: (object, attribute name) pairs replaced, in the worker only, by a function that
  raises. The tests forbid model loading there: on ZeroGPU a model loaded inside a call is
  read from disk again by every new worker, inside the user's GPU time.
* Like ``spaces``, an exception raised by the call comes back as itself only when it is a
  ``gr.Error``; any other becomes a generic "ZeroGPU worker error".
* Closing a decorated generator in the parent stops the worker's generator at its next item.
"""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
import traceback
from typing import Any, Callable, Optional

import gradio as gr

_CALL, _NEXT, _CLOSE = "call", "next", "close"
_ITEM, _RETURN, _END, _ERROR = "item", "return", "end", "error"


class ForbiddenInWorker(RuntimeError):
    pass


class ForkedGPU:
    """``spaces.GPU`` double (see module docstring). Use an instance as ``spaces.GPU``."""

    def __init__(self, *, timeout_s: float = 120.0, forbid: tuple = ()):
        self.timeout_s = timeout_s
        self.forbid = forbid
        self.durations: list[float] = []        # the duration asked for, per call
        self._tasks: dict[int, Callable] = {}
        self._conn = None
        self._process: Optional[multiprocessing.Process] = None

    # -- decorator ----------------------------------------------------------------------
    def __call__(self, task: Optional[Callable] = None, *, duration: Any = None, size: Any = None):
        if task is None:
            return lambda fn: self._decorate(fn, duration)
        return self._decorate(task, duration)

    def _decorate(self, task: Callable, duration: Any) -> Callable:
        key = len(self._tasks)
        self._tasks[key] = task
        if inspect.isgeneratorfunction(task):
            def gen_call(*args, **kwargs):
                self._ask_duration(duration, args, kwargs)
                yield from self._generate(key, args, kwargs)
            return gen_call

        def call(*args, **kwargs):
            self._ask_duration(duration, args, kwargs)
            self._send((_CALL, key, args, kwargs))
            kind, value = self._receive()
            assert kind == _RETURN, kind
            return value
        return call

    def _ask_duration(self, duration: Any, args: tuple, kwargs: dict) -> None:
        self.durations.append(duration(*args, **kwargs) if callable(duration) else duration)

    # -- parent side -------------------------------------------------------------------
    def _generate(self, key: int, args: tuple, kwargs: dict):
        self._send((_CALL, key, args, kwargs))
        finished = False
        try:
            while True:
                try:
                    kind, value = self._receive()
                except BaseException:
                    finished = True           # the worker has ended this call
                    raise
                if kind == _END:
                    finished = True
                    return
                yield value
                self._send((_NEXT,))
        finally:
            if not finished:
                self._send((_CLOSE,))
                kind, _ = self._receive()
                assert kind == _END, kind

    def _send(self, message: tuple) -> None:
        if self._process is None:
            self._fork()
        self._conn.send_bytes(pickle.dumps(message))

    def _receive(self) -> tuple:
        if not self._conn.poll(self.timeout_s):
            self.close()
            raise AssertionError(
                f"the GPU call did not answer within {self.timeout_s:g} s in the forked worker: it "
                "waits on something only the parent has (a thread started before the fork?)")
        kind, value = pickle.loads(self._conn.recv_bytes())
        if kind == _ERROR:
            raise value
        return kind, value

    def _fork(self) -> None:
        parent, child = multiprocessing.get_context("fork").Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(child, self._tasks, self.forbid), daemon=True)
        self._process.start()
        self._conn = parent

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process, self._conn = None, None


# -- worker side -------------------------------------------------------------------------
def _forbidden(name: str) -> Callable:
    def refuse(*_args, **_kwargs):
        raise ForbiddenInWorker(f"{name} was called inside the GPU call: the parent should have "
                                "done it before the fork")
    return refuse


def _error(exc: BaseException) -> tuple:
    if isinstance(exc, gr.Error):
        return _ERROR, exc
    detail = "".join(traceback.format_exception(exc)).strip().splitlines()[-1]
    return _ERROR, gr.Error(f"ZeroGPU worker error: {type(exc).__name__} ({detail})")


def _serve(conn, tasks: dict, forbid: tuple) -> None:
    import torch

    # GNU OpenMP's thread pool does not survive fork (a parallel CPU op would hang here); the
    # real worker computes on CUDA, so this double runs CPU ops on the worker's one thread.
    torch.set_num_threads(1)
    for owner, name in forbid:
        setattr(owner, name, _forbidden(f"{getattr(owner, '__name__', owner)}.{name}"))

    def send(message: tuple) -> None:
        try:
            conn.send_bytes(pickle.dumps(message))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send_bytes(pickle.dumps(_error(AssertionError(f"result not picklable: {exc}"))))

    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except EOFError:
            return
        _, key, args, kwargs = message
        task = tasks.get(key)
        if task is None:
            send(_error(AssertionError("the function was decorated after the fork point")))
            continue
        try:
            if not inspect.isgeneratorfunction(task):
                send((_RETURN, task(*args, **kwargs)))
                continue
            gen = task(*args, **kwargs)
            for item in gen:
                send((_ITEM, item))
                if pickle.loads(conn.recv_bytes())[0] == _CLOSE:
                    gen.close()
                    break
            send((_END, None))
        except Exception as exc:  # noqa: BLE001 - handed to the parent like spaces does
            send(_error(exc))
