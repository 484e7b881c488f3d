# A coroutine awaiting asyncio.sleep(0.3): the await line is suspended, not running.
import asyncio


async def nap():
    await asyncio.sleep(0.3)
    return "rested"


print(asyncio.run(nap()))
