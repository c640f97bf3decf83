# test/bench/delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS: a TCP proxy
# on 127.0.0.1 that holds every chunk it reads for DELAY_MS before passing
# it on, in each direction: a slower network between the nodes of a Citus
# cluster on one machine.  Point a node's entry at it, on the coordinator:
#
#   python3 test/bench/delay_proxy.py 5612 5602 0.25 &
#   SELECT citus_update_node(nodeid, '127.0.0.1', 5612) FROM pg_dist_node WHERE nodeport = 5602;
#
# and back with citus_update_node(..., 5602) before stopping it.  The
# delay is the least a packet waits: the event loop's timer and Python
# add their own (README, "Growing past one server", measured a round trip
# through it).
import asyncio
import sys

LISTEN, TARGET, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await asyncio.sleep(DELAY)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection('127.0.0.1', TARGET)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', LISTEN)
    async with server:
        await server.serve_forever()


asyncio.run(main())
