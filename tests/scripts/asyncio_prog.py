# Coroutines under asyncio: gather, an async generator, short sleeps.
import asyncio


async def fetch(name, delay):
    await asyncio.sleep(delay)
    return name.upper()


async def ticker(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def main():
    results = await asyncio.gather(fetch("a", 0.02), fetch("b", 0.01), fetch("c", 0))
    print("gathered", results)
    total = 0
    async for v in ticker(4):
        total += v
    print("ticks", total)


asyncio.run(main())
