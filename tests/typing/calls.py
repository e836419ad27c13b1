"""Right and wrong calls for the type checkers (tests/unit/test_typed_calls.py runs mypy on this file).

A line whose comment starts with ``wrong:`` (then what mypy says) must be reported at that line; no other line may be.
"""

from __future__ import annotations

from pydantic import BaseModel

import sqsq

app = sqsq.App("typing")


@app.task
def add(x: int, y: int) -> int:
    return x + y


class Resize(BaseModel):
    key: str
    width: int = 256


@app.task(queue="images")
def resize(args: Resize) -> dict[str, int]:
    return {"width": args.width}


# Right: nothing reported on these lines.
h1: sqsq.AsyncResult[int] = add.delay(x=1, y=2)
h2: sqsq.AsyncResult[int] = add.delay(1, 2)
h3: sqsq.AsyncResult[int] = add.send(x=1, y=2)
h4: sqsq.AsyncResult[int] = add.options(delay_seconds=30, queue="slow").delay(x=1, y=2)
h5: sqsq.AsyncResult[int] = sqsq.send(add.s(x=1, y=2), delay_seconds=5)
h6: sqsq.AsyncResult[int] = sqsq.send(add, {"x": 1, "y": 2})
h7: sqsq.AsyncResult[dict[str, int]] = resize.delay(Resize(key="a.png"))
h8: list[sqsq.AsyncResult[int]] = sqsq.send_many(add, [{"x": 1, "y": 2}])
total: int = add.delay(x=1, y=2).get(timeout_seconds=30)
width: int = resize.delay(Resize(key="a.png")).get()["width"]
state: str = h1.state
anything = sqsq.AsyncResult("an-id", app=app).get()

# Not checkable: the mapping form's keys and values (a dict cannot be typed from a ParamSpec), so
# sqsq.send(add, {"x": "one"}) is refused at run time (sqsq.ValidationError) instead. Use add.delay/add.s.

# Wrong: each is reported at its line.
add.delay(x="one", y=2)  # wrong: Argument "x" to "delay" of "Task" has incompatible type "str"; expected "int"
add.delay(x=1, z=2)  # wrong: Unexpected keyword argument "z" for "delay" of "Task"
add.delay(x=1)  # wrong: Missing positional argument "y" in call to "delay" of "Task"
add.send(1, 2, 3)  # wrong: Too many arguments
add.delay(x=1, y=2, delay_seconds=30)  # wrong: Unexpected keyword argument "delay_seconds" for "delay" of "Task"
add.options(delay_seconds=30).delay(x=1, y="2")  # wrong: Argument "y" to "delay" of "Options"
add.options(countdown=30)  # wrong: Unexpected keyword argument "countdown" for "options" of "Task"
sqsq.send(add.s(x=1, y="two"))  # wrong: Argument "y" to "s" of "Task" has incompatible type "str"; expected "int"
sqsq.send(add.s(x=1, y=2), {"x": 1})  # wrong: No overload variant of "send" matches argument types
resize.delay(Resize)  # wrong: Argument 1 to "delay" of "Task" has incompatible type "type[Resize]"
resize.delay({"key": "a.png"})  # wrong: Argument 1 to "delay" of "Task" has incompatible type "dict[str, str]"
resize.delay(key="a.png")  # wrong: Unexpected keyword argument "key" for "delay" of "Task"
wrong_total: str = add.delay(x=1, y=2).get()  # wrong: Incompatible types in assignment
wrong_width: str = resize.delay(Resize(key="a")).get()["width"]  # wrong: Incompatible types in assignment
wrong_send: sqsq.AsyncResult[str] = sqsq.send(add, {"x": 1, "y": 2})  # wrong: Argument 1 to "send" has incompatible type
wrong_call: sqsq.AsyncResult[str] = sqsq.send(add.s(x=1, y=2))  # wrong: Argument 1 to "send" has incompatible type

# Workflows (issue 13): the handle's get() is typed by the last step (chain, chord) or the members (group, map).
# A step that receives the previous result leaves a parameter out: .partial(...) (.s(...) needs them all).
w1: int = sqsq.chain(add.s(1, 2), add.partial(y=3)).delay().get()
w2: list[int] = sqsq.group([add.s(1, 2), add.s(3, 4)]).delay().get()
w3: int = sqsq.chord([add.s(1, 2)], add.partial(y=0).pass_as("x")).delay().get()
w4: list[int] = add.map([{"x": 1, "y": 2}]).delay().get()
w5: list[list[int]] = add.chunks([{"x": 1, "y": 2}], 10).delay().get()
w6: int = sqsq.send(sqsq.chain(add.s(1, 2), add.partial(y=3))).get()
wrong_chain: str = sqsq.chain(add.s(1, 2), add.partial(y=3)).delay().get()  # wrong: Incompatible types in assignment
wrong_step = sqsq.chain(add.s(1, 2), add.s(y=3))  # wrong: Missing positional argument "x" in call to "s" of "Task"
