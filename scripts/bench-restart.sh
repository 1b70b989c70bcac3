#!/bin/sh
# Disk in use and restart time.  For each build given (default: build/),
# a logd on a fresh datadir gets P one-partition topics with one record
# each; then: the disk in use (du) against the data size (logctl), the
# time until logd accepts connections again after kill -9, and after a
# clean stop.  With two builds (BENCH_BUILDS="old new") the runs
# alternate, BENCH_ROUNDS times, so the figures compare within one run.
# One JSON line per run.
#
#   BENCH_BUILDS      build directories (default build)
#   BENCH_PARTITIONS  P (default 20)
#   BENCH_ROUNDS      rounds (default 2)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
exec python3 - "${BENCH_BUILDS:-$top/build}" "${BENCH_PARTITIONS:-20}" \
    "${BENCH_ROUNDS:-2}" <<'PY'
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

builds, parts, rounds = sys.argv[1].split(), int(sys.argv[2]), int(sys.argv[3])
tmp = tempfile.mkdtemp(prefix="logd-restart.")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
addr = "127.0.0.1:%d" % port

def start(b):
    """Starts logd from build b; returns (process, ms until it serves)."""
    t0 = time.monotonic()
    # --log-file and --set were -o and -s before the letters were made
    # one meaning across the tools: an older build takes those
    old = "--set" not in subprocess.run([b + "/logd/logd", "--help"],
        capture_output=True, text=True).stdout
    o, st = ("-o", "-s") if old else ("--log-file", "--set")
    p = subprocess.Popen([b + "/logd/logd", "-d", tmp + "/data", "-l", addr,
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
            p.send_signal(signal.SIGTERM); p.wait()
            print(json.dumps({"build": b, "round": r, "partitions": parts,
                "du_kib": du, "data_bytes": data,
                "restart_kill9_ms": round(crash, 1),
                "restart_clean_ms": round(clean, 1)}), flush=True)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
PY
