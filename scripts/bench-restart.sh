#!/bin/sh
# Disk in use and restart time.  For each build given (default: build/),
# a logd on a fresh datadir gets P one-partition topics with one record
# each; then: the disk in use (du) against the data size (logctl), the
# time until logd accepts connections again after kill -9, and after a
# clean stop.  Then N records of 100 bytes spread over one topic of P
# partitions: disk in use against data size again.  With
# BENCH_DATADIR_MB, a datadir of that many MB (1,000-byte records in
# 10 MiB segments, one partition) is written once, by the first build,
# and each build restarts on it after kill -9, with the page cache as
# the kill left it and, when run as root, after dropping it (a reboot's
# cold start).  With two builds (BENCH_BUILDS="old new") the runs
# alternate, BENCH_ROUNDS times, so the figures compare within one run.
# One JSON line per run.
#
#   BENCH_BUILDS       build directories (default build)
#   BENCH_PARTITIONS   P (default 20)
#   BENCH_RECORDS      N (default 1000000)
#   BENCH_ROUNDS       rounds (default 2)
#   BENCH_DATADIR_MB   size of the large datadir (default 0: none)
#   BENCH_SEGMENTS     with it, a datadir of that many segments over P
#                      partitions (1 KB records, 64 KiB segments) is
#                      written by the first build; each build restarts on
#                      it after kill -9 and reads every record back; the
#                      line gives the maps and fds logd holds then, against
#                      vm.max_map_count (default 0: none)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
exec python3 - "${BENCH_BUILDS:-$top/build}" "${BENCH_PARTITIONS:-20}" \
    "${BENCH_ROUNDS:-2}" "${BENCH_RECORDS:-1000000}" \
    "${BENCH_DATADIR_MB:-0}" "${BENCH_SEGMENTS:-0}" <<'PY'
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

builds, parts, rounds = sys.argv[1].split(), int(sys.argv[2]), int(sys.argv[3])
records, big_mb = int(sys.argv[4]), int(sys.argv[5])
nsegs = int(sys.argv[6])
tmp = tempfile.mkdtemp(prefix="logd-restart.")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
addr = "127.0.0.1:%d" % port

def start(b, data=None):
    """Starts logd from build b; returns (process, ms until it serves)."""
    data = data or tmp + "/data"
    # --log-file and --set were -o and -s before the letters were made
    # one meaning across the tools: an older build takes those
    old = "--set" not in subprocess.run([b + "/logd/logd", "--help"],
        capture_output=True, text=True).stdout
    o, st = ("-o", "-s") if old else ("--log-file", "--set")
    t0 = time.monotonic()
    p = subprocess.Popen([b + "/logd/logd", "-d", data, "-l", addr,
        o, tmp + "/logd.log", st, "kafka_listen=none",
        st, "http_listen=none"])
    while True:
        c = socket.socket()
        try:
            c.connect(("127.0.0.1", port))
            return p, (time.monotonic() - t0) * 1000
        except OSError:
            if p.poll() is not None:
                sys.exit("logd exited %d" % p.returncode)
            time.sleep(0.0005)
        finally:
            c.close()

def du_kib(path):
    return int(subprocess.check_output(["du", "-sk", path]).split()[0])

try:
    for r in range(1, rounds + 1):
        for b in builds:
            shutil.rmtree(tmp + "/data", ignore_errors=True)
            p, _ = start(b)
            ctl = [b + "/tools/logctl", "-b", addr]
            for i in range(1, parts + 1):
                subprocess.run(ctl + ["create", "t%d" % i], check=True,
                    stdout=subprocess.DEVNULL)
                subprocess.run([b + "/tools/logput", "-b", addr, "t%d" % i],
                    input=b"reading %d\n" % i, check=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            data = sum(t["size"] for t in json.loads(
                subprocess.check_output(ctl + ["--json", "topics"])))
            du = du_kib(tmp + "/data")
            p.send_signal(signal.SIGKILL); p.wait()
            p, crash = start(b)
            p.send_signal(signal.SIGTERM); p.wait()
            p, clean = start(b)
            # N records over one topic of P partitions
            subprocess.run([b + "/tools/logbench", "produce", "-b", addr,
                "-t", "spread", "-p", str(parts), "-c", str(records),
                "--size", "100", "-a", "1"], check=True,
                stdout=subprocess.DEVNULL)
            topics = json.loads(subprocess.check_output(ctl + ["--json",
                "topics"]))
            sdata = sum(t["size"] for t in topics if t["name"] == "spread")
            sdisk = sum(t.get("disk", 0) for t in topics
                if t["name"] == "spread")
            sdu = du_kib(tmp + "/data/topics") - du
            p.send_signal(signal.SIGTERM); p.wait()
            print(json.dumps({"build": b, "round": r, "partitions": parts,
                "du_kib": du, "data_bytes": data,
                "restart_kill9_ms": round(crash, 1),
                "restart_clean_ms": round(clean, 1),
                "spread_records": records, "spread_du_kib": sdu,
                "spread_data_bytes": sdata, "spread_disk_bytes": sdisk}),
                flush=True)
    if big_mb > 0:
        big = tmp + "/big"
        p, _ = start(builds[0], big)
        subprocess.run([builds[0] + "/tools/logctl", "-b", addr, "create",
            "big", "--config", "segment.bytes=10485760"], check=True,
            stdout=subprocess.DEVNULL)
        subprocess.run([builds[0] + "/tools/logbench", "produce", "-b",
            addr, "-t", "big", "-c", str(big_mb * 1000), "--size", "1000",
            "-a", "1"], check=True, stdout=subprocess.DEVNULL)
        p.send_signal(signal.SIGKILL); p.wait()
        segs = len([f for f in os.listdir(big + "/topics/big-0")
            if f.endswith(".log")])
        for r in range(1, rounds + 1):
            for b in builds:
                res = {"build": b, "round": r, "datadir_mb": big_mb,
                    "segments": segs}
                p, res["restart_kill9_ms"] = start(b, big)
                p.send_signal(signal.SIGKILL); p.wait()
                if os.geteuid() == 0:
                    subprocess.run(["sync"])
                    with open("/proc/sys/vm/drop_caches", "w") as f:
                        f.write("3\n")
                    p, res["restart_kill9_cold_ms"] = start(b, big)
                    p.send_signal(signal.SIGKILL); p.wait()
                for k in list(res):
                    if k.endswith("_ms"):
                        res[k] = round(res[k], 1)
                print(json.dumps(res), flush=True)
    if nsegs > 0:
        many = tmp + "/many"
        b0 = builds[0]
        p, _ = start(b0, many)
        subprocess.run([b0 + "/tools/logctl", "-b", addr, "create", "many",
            "-p", str(parts), "--config", "segment.bytes=65536"], check=True,
            stdout=subprocess.DEVNULL)
        # a batch of 60 records of 1 KB fills a 64 KiB segment
        n = nsegs * 60 + parts * 60
        subprocess.run([b0 + "/tools/logbench", "produce", "-b", addr, "-t",
            "many", "-p", str(parts), "-c", str(n), "--size", "1000",
            "-z", "60", "-a", "1"], check=True, stdout=subprocess.DEVNULL)
        # a clean stop syncs everything (the flusher may still be behind
        # on many small segments), then a start and kill -9: the restarts
        # open what a datadir of this many segments is, not a tail to scan
        p.send_signal(signal.SIGTERM); p.wait()
        p, _ = start(b0, many)
        p.send_signal(signal.SIGKILL); p.wait()
        segs = sum(len([f for f in os.listdir(many + "/topics/" + d)
            if f.endswith(".log")]) for d in os.listdir(many + "/topics"))
        with open("/proc/sys/vm/max_map_count") as f:
            mmc = int(f.read())
        for r in range(1, rounds + 1):
            for b in builds:
                p, ms = start(b, many)
                t0 = time.monotonic()
                subprocess.run([b + "/tools/logbench", "consume", "-b", addr,
                    "-t", "many", "-c", str(n)], check=True,
                    stdout=subprocess.DEVNULL)
                read_s = time.monotonic() - t0
                with open("/proc/%d/maps" % p.pid) as f:
                    maps = sum(1 for _ in f)
                fds = len(os.listdir("/proc/%d/fd" % p.pid))
                p.send_signal(signal.SIGKILL); p.wait()
                print(json.dumps({"build": b, "round": r, "segments": segs,
                    "partitions": parts, "restart_kill9_ms": round(ms, 1),
                    "records_read": n, "read_s": round(read_s, 2),
                    "maps": maps, "fds": fds, "vm_max_map_count": mmc}),
                    flush=True)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
PY
