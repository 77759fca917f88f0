"""Gradient-recording mode: ``no_grad``, ``enable_grad`` and ``set_grad_enabled``.

The mode is per thread (like PyTorch's), so a data-loading thread running
under ``no_grad`` does not switch recording off for the training thread.
Each is a context manager and a decorator, as in PyTorch: ``@no_grad()`` and
``@no_grad`` both work, and a decorated generator runs its body in the mode
at every resumption (while the caller's code between items keeps its own).
"""
import functools
import inspect
import threading

_local = threading.local()


def is_grad_enabled():
    """True when operations on tensors that require grad are recorded."""
    return getattr(_local, "enabled", True)


def _set(mode):
    _local.enabled = bool(mode)


class _GradMode:
    """Sets the mode ``_mode`` on ``__enter__`` and restores the previous one on ``__exit__``."""
    _mode = True

    def __new__(cls, fn=None):
        """``cls()`` is a context manager; ``cls(fn)`` (bare ``@cls``) decorates ``fn``."""
        self = super().__new__(cls)
        return self if fn is None else self(fn)

    def _fresh(self):
        """A new manager in the same mode (one per call of a decorated function)."""
        return enable_grad() if self._mode else no_grad()

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._mode)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        """Use as a decorator: the function (or each step of a generator) runs in this mode."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}: can decorate only a callable, got {type(fn).__name__}")
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper

    def _wrap_generator(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            step, value = gen.send, None
            while True:
                try:
                    with self._fresh():
                        item = step(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    step, value = gen.send, (yield item)
                except GeneratorExit:
                    with self._fresh():
                        gen.close()
                    raise
                except BaseException as e:      # thrown into us: pass it on, in the mode
                    step, value = gen.throw, e
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) in which no graph is recorded."""
    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that switches recording back on."""
    _mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)`` switches recording on or off at once (a plain call,
    as in PyTorch); used as ``with set_grad_enabled(mode):`` or as a decorator it
    restores the previous mode afterwards."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        if not isinstance(mode, (bool, int)):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        _set(self._mode)

    def __call__(self, fn):
        """As a decorator the mode applies only inside ``fn``: undo the switch made by the call."""
        _set(self._prev)
        return super().__call__(fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False
