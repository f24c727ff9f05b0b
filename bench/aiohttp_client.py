"""The Python baseline: aiohttp with an asyncio.Semaphore.

    /usr/bin/python3 bench/aiohttp_client.py URL_TEMPLATE N C [--warmup=K]

Makes N GETs ("{i}" replaced by 1..N) with at most C in flight, one task per
request behind a semaphore (the usual aiohttp pattern), over one
ClientSession whose connector holds C connections. Uses uvloop when it is
installed. Prints the same JSON line as bench/client.ts, measured over the
load phase only; refuses (exit 2) any host that is not loopback.

Needs Debian's python3-aiohttp (the runner skips it otherwise).
"""

import asyncio
import ipaddress
import json
import os
import resource
import sys
import time
from urllib.parse import urlsplit

USAGE = "usage: bench/aiohttp_client.py URL_TEMPLATE N C [--warmup=K]"


def refuse(message):
    sys.stderr.write(message + "\n")
    sys.exit(2)


def is_loopback(host):
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv):
    positional = [a for a in argv if not a.startswith("--")]
    flags = dict(
        (a[2:].split("=", 1) + ["true"])[:2] for a in argv if a.startswith("--")
    )
    if len(positional) != 3:
        refuse(USAGE)
    template, n, c = positional
    try:
        n, c = int(n), int(c)
        warmup = int(flags.get("warmup", "0"))
    except ValueError:
        refuse(USAGE)
    if n < 1 or c < 1 or warmup < 0:
        refuse(USAGE)
    parts = urlsplit(template.replace("{i}", "1"))
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        refuse("refused: not an http(s) URL: " + template)
    if not is_loopback(parts.hostname):
        refuse("refused: %s is not a loopback host (127.0.0.0/8, localhost, ::1)" % parts.hostname)
    return template, n, c, warmup


def marker(phase, rss):
    if os.environ.get("BENCH_PHASE_MARKERS") == "1":
        sys.stderr.write("#phase %s rss=%d\n" % (phase, rss))
        sys.stderr.flush()


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def load(session, template, n, c, tally):
    semaphore = asyncio.Semaphore(c)

    async def one(i):
        async with semaphore:
            try:
                async with session.get(template.replace("{i}", str(i))) as response:
                    await response.read()
                    tally["ok" if response.status == 200 else "failed"] += 1
            except Exception:
                tally["failed"] += 1

    await asyncio.gather(*(one(i) for i in range(1, n + 1)))


async def main(template, n, c, warmup):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=c, limit_per_host=c)
    async with aiohttp.ClientSession(connector=connector) as session:
        if warmup > 0:
            await load(session, template, warmup, c, {"ok": 0, "failed": 0})
        tally = {"ok": 0, "failed": 0}
        peak = [rss_bytes()]

        async def sample():
            while True:
                peak[0] = max(peak[0], rss_bytes())
                await asyncio.sleep(0.05)

        sampler = asyncio.ensure_future(sample())
        marker("load-start", peak[0])
        before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        try:
            await load(session, template, n, c, tally)
        finally:
            sampler.cancel()
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF)
        peak[0] = max(peak[0], rss_bytes())
        marker("load-end", peak[0])
    print(json.dumps({
        "wall_s": round(wall, 4),
        "req_per_s": round(n / wall, 1),
        "cpu_user_s": round(after.ru_utime - before.ru_utime, 4),
        "cpu_sys_s": round(after.ru_stime - before.ru_stime, 4),
        "peak_rss_mb": round(peak[0] / (1024 * 1024), 1),
        "ok": tally["ok"],
        "failed": tally["failed"],
    }), flush=True)
    return 1 if tally["failed"] > 0 else 0


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        refuse("aiohttp is not installed for %s (Debian: apt-get install python3-aiohttp)" % sys.executable)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(main(*args)))
