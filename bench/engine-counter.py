#!/usr/bin/env python3
"""A byte-level unix-socket proxy in front of a Docker engine that logs every
HTTP request line a client sends through it (one line per request:
`<unix time> <method> <path>`), so a benchmark can count the engine requests
(/_ping above all) a container makes without reconfiguring the engine.

    engine-counter.py LISTEN_SOCKET ENGINE_SOCKET LOG_FILE [GID]

The listening socket gets mode 0660 and group GID (default 4243), as a host
engine's socket has a docker group: berth's group fix gives the image's user
access. Bytes pass through unchanged in both directions.
"""

import asyncio
import os
import re
import sys
import time

REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r?$")
MAX_LINE = 16 * 1024


async def pipe(reader, writer, on_line=None):
    partial = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if on_line is not None:
                lines = (partial + data).split(b"\n")
                partial = lines.pop()[-MAX_LINE:]
                for line in lines:
                    on_line(line)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass


def main():
    listen, engine, log_path = sys.argv[1:4]
    gid = int(sys.argv[4]) if len(sys.argv) > 4 else 4243
    log = open(log_path, "a", buffering=1)

    def on_line(line):
        match = REQUEST_LINE.match(line)
        if match:
            method, path = match.group(1).decode(), match.group(2).decode("latin-1")
            log.write(f"{time.time():.3f} {method} {path}\n")

    async def client(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(engine)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer, on_line), pipe(up_reader, writer))
        writer.close()
        up_writer.close()

    async def serve():
        if os.path.exists(listen):
            os.unlink(listen)
        server = await asyncio.start_unix_server(client, path=listen)
        os.chown(listen, 0, gid)
        os.chmod(listen, 0o660)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
