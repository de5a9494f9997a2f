"""Expected failures and how they reach the user: one line, exit code 2, no traceback.

`UserError` is raised for anything a user can fix (a bad path, value, column or config key); the plain libraries,
which cannot import it, mark such exception classes with `user_error = True` (`generators.complete.TeacherError`).
The CLI and the job entrypoints print `error: <message>` and exit 2. Errors raised inside Ray workers arrive wrapped
(RayTaskError, Ray Data's UserCodeException); `user_error_in` walks the cause chain to find the original.
"""
from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; its message is one line naming the file, key or column and what is valid."""


# Built-in exceptions that mean "bad input path" when they escape a stage.
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


def cause_chain(exc: BaseException):
    """`exc` and every exception in its cause/context chain (Ray's task errors unwrapped through `.cause`), each
    once."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])


def user_error_in(exc: BaseException) -> BaseException | None:
    """The first UserError (or path error, or library error marked `user_error`) in `exc`'s cause/context chain,
    unwrapping Ray's task errors."""
    return next((e for e in cause_chain(exc) if isinstance(e, (UserError, *PATH_ERRORS))
                 or getattr(type(e), "user_error", False) is True), None)


def one_line(exc: BaseException) -> str:
    """The message of an expected failure, flattened to one line."""
    msg = str(exc) if not isinstance(exc, PATH_ERRORS) or not getattr(exc, "filename", None) else \
        f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return " ".join(msg.split()) or type(exc).__name__
