"""Gradient-recording mode: ``no_grad`` and ``enable_grad``.

The mode is per thread (like PyTorch's), so a data-loading thread running
under ``no_grad`` does not switch recording off for the training thread.
"""
import threading

_local = threading.local()


def is_grad_enabled():
    """True when operations on tensors that require grad are recorded."""
    return getattr(_local, "enabled", True)


def set_grad_enabled(mode):
    _local.enabled = bool(mode)


class _GradMode:
    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        """Use as a decorator: the function runs inside this mode."""
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) in which no graph is recorded."""
    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that switches recording back on."""
    _mode = True
