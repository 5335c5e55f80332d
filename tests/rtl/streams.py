"""Testbench helpers for ``amaranth.lib.stream`` interfaces (the transfer rules of Amaranth's
stream guide: a transfer happens on a clock edge where both ``valid`` and ``ready`` are high)."""

__all__ = ["put", "get"]


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
