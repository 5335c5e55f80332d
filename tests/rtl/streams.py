"""Testbench helpers for ``amaranth.lib.stream`` interfaces (the transfer rules of Amaranth's
stream guide: a transfer happens on a clock edge where both ``valid`` and ``ready`` are high)."""

from amaranth import Value

__all__ = ["put", "get", "put_all", "get_n", "check_rules", "watchdog"]


async def put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` until it is taken."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def get(ctx, stream):
    """Take one payload from ``stream``."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def put_all(ctx, stream, payloads, *, rng=None, stall=0.0):
    """Offer ``payloads`` one after the other; with ``rng``, idle for a clock before each one
    with probability ``stall`` (repeatedly), so ``valid`` also drops between beats."""
    for payload in payloads:
        while rng is not None and rng.random() < stall:
            await ctx.tick()
        await put(ctx, stream, payload)


async def get_n(ctx, stream, n, *, rng=None, stall=0.0):
    """Take ``n`` payloads; with ``rng``, hold ``ready`` low for a clock before each one with
    probability ``stall`` (repeatedly)."""
    payloads = []
    for _ in range(n):
        while rng is not None and rng.random() < stall:
            await ctx.tick()
        payloads.append(await get(ctx, stream))
    return payloads


def check_rules(stream):
    """A background testbench (``simulate(..., background=[check_rules(dut.o)])``) that checks
    the source side's rules: once ``valid`` is high it stays high, with the same payload, until
    a transfer."""
    payload = Value.cast(stream.payload)

    async def monitor(ctx):
        held = None  # payload offered and not taken at the previous edge
        while True:
            _, _, valid, ready, value = await ctx.tick().sample(stream.valid, stream.ready, payload)
            if held is not None:
                assert valid, f"valid dropped without a transfer (payload {held:#x})"
                assert value == held, f"payload changed from {held:#x} to {value:#x} while valid"
            held = value if valid and not ready else None

    return monitor


def watchdog(clocks, finished):
    """A testbench that fails the simulation if ``finished[0]`` is not true within ``clocks``
    clocks (so a missing beat fails a test instead of hanging it); it returns once it is."""

    async def testbench(ctx):
        for _ in range(clocks):
            if finished[0]:
                return
            await ctx.tick()
        raise AssertionError(f"not finished after {clocks} clocks")

    return testbench
