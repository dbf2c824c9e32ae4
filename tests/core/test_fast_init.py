"""The cheaper ``__init__`` of the dataclasses made in great numbers (``core.fast_init``): every
journaled event has it (an event class's ``KINDS`` is a ClassVar, not a parameter), it takes what
the dataclass's own takes, and a class it cannot copy keeps its own."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, InitVar, dataclass, field

import pytest

from dyntrail.core.events import Event, Fill, StopMoved
from dyntrail.core.fast_init import fast_init


def _own(cls: type) -> bool:
    return cls.__init__.__code__.co_qualname == "__init__"  # type: ignore[misc]


def test_every_event_class_has_the_cheaper_init() -> None:
    classes = set(Event.KINDS.values())
    assert len(classes) > 40
    assert all(_own(cls) for cls in classes), [c.__name__ for c in classes if not _own(c)]


def test_it_takes_what_the_dataclass_takes() -> None:
    ev = StopMoved(ts="2025-03-03T09:16:00+05:30", trade_id=1, level=2.5, reason="trail")
    assert ev.kind == "stop_moved" and list(vars(ev)) == ["ts", "kind", "trade_id", "level",
                                                          "reason"]  # fmt: skip
    plain = dataclasses.replace(ev)  # (the copy goes through __init__ as well)
    assert plain == ev
    with pytest.raises(TypeError):
        StopMoved(ts=None, trade_id=1, level=2.5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        StopMoved(ts=None, trade_id=1, level=2.5, reason="x", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        StopMoved(None, 1, 2.5, "x")  # type: ignore[misc]  # keyword-only, as declared
    with pytest.raises(FrozenInstanceError):
        ev.level = 3.0  # type: ignore[misc]
    assert Fill.__init__.__qualname__ == "Fill.__init__"


def test_a_class_it_cannot_copy_keeps_its_own() -> None:
    @dataclass(frozen=True)
    class WithInitVar:
        x: int
        y: InitVar[int] = 0

        def __post_init__(self, y: int) -> None:
            object.__setattr__(self, "x", self.x + y)

    @dataclass(frozen=True)
    class WithFactory:
        xs: list[int] = field(default_factory=list)

    for cls in (WithInitVar, WithFactory):
        assert not _own(fast_init(cls))
    assert WithInitVar(1, 2).x == 3


def test_a_class_with_its_own_init_keeps_it() -> None:
    @dataclass(frozen=True)
    class Written:
        x: int

        def __init__(self, x: int) -> None:  # validates: must stay
            if x < 0:
                raise ValueError("x < 0")
            object.__setattr__(self, "x", x)

    @dataclass(frozen=True, init=False)
    class NoInit:
        x: int = 0

    fast_init(Written)
    with pytest.raises(ValueError, match="x < 0"):
        Written(-1)
    assert fast_init(NoInit).__init__ is object.__init__  # (none was made: none is put in)
