"""A cheaper ``__init__`` for the frozen dataclasses made in great numbers (every journaled
event; every order intent, fill and broker event).

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__`` (its way
round the frozen ``__setattr__``): a call per field, and a ``fill`` event has 24. The one made
here takes the same parameters with the same defaults (a missing or unknown argument is the same
``TypeError``), stores the fields in their order (the order the journal writes them in) and calls
``__post_init__`` when the class has one: straight into the instance's ``__dict__``, or, for a
slotted class, through each slot's own setter. The class stays frozen: only ``__init__``
writes. A class whose fields are not all plain parameters of one kind (a default factory,
``init=False``, an ``InitVar``, keyword-only mixed with positional) keeps its own."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

_T = TypeVar("_T")


def fast_init(cls: type[_T]) -> type[_T]:
    """Give the frozen dataclass ``cls`` the cheaper ``__init__`` (see the module docstring)."""
    own = fields(cls)  # type: ignore[arg-type]
    params = getattr(cls, "__dataclass_params__", None)
    made = cls.__dict__.get("__init__")
    if not own or params is None or not params.init or made is None:
        return cls
    if made.__code__.co_filename != "<string>":  # written in the class, not by dataclass
        return cls
    names = {f.name for f in own}
    for name, f in cls.__dataclass_fields__.items():  # type: ignore[attr-defined]
        # the pseudo-fields ``fields`` leaves out: a ClassVar is no parameter, an InitVar is
        if name not in names and "InitVar" in str(f.type):
            return cls
    slotted = "__slots__" in cls.__dict__
    kw_only = own[0].kw_only
    env: dict[str, Any] = {}
    params, body = [], []
    for f in own:
        if f.default_factory is not MISSING or not f.init or f.kw_only != kw_only:
            return cls
        if f.default is MISSING:
            params.append(f.name)
        else:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        if slotted:
            env[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
            body.append(f"    _set_{f.name}(self, {f.name})\n")
        else:
            body.append(f"    d[{f.name!r}] = {f.name}\n")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()\n")
    head = "self, *, " if kw_only else "self, "
    start = "" if slotted else "    d = self.__dict__\n"
    exec(f"def __init__({head}{', '.join(params)}):\n{start}{''.join(body)}", env)  # as dataclass
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
