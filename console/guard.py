"""Keep the console alive when one of our own callbacks fails.

Textual ends the app on an exception in a timer callback, and a message handler that
raises stops its widget's message loop for good. Our handlers of outside data and our
timers are wrapped with `survive`: the error is logged, shown, and the console goes on.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def _report(owner: Any, fn: Callable[..., Any], exc: BaseException) -> None:
    log.error("error in %s", fn.__qualname__, exc_info=exc)
    app = getattr(owner, "app", None)
    errors = getattr(app, "internal_errors", None)
    if isinstance(errors, list):
        errors.append(exc)
    try:
        if app is not None:
            app.notify(
                f"Internal error in {fn.__name__}: {type(exc).__name__}: {exc} (logged)",
                severity="error",
                markup=False,
            )
    except Exception:
        log.exception("could not report the error on screen")


def survive(fn: F) -> F:
    """Wrap a method (sync or async) so an exception is logged and reported, not raised."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(self, *args, **kwargs)
            except Exception as exc:
                _report(self, fn, exc)
                return None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            _report(self, fn, exc)
            return None

    return wrapper  # type: ignore[return-value]
