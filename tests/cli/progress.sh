#!/usr/bin/env bash
# Progress: off a terminal (a pipe, a log file) label writes timestamped lines every
# --progress-interval seconds ("2026-11-24T13:05:00Z label: 12/16 tiles (75%), 38.1 tiles/s,
# ETA 00:00:01"), a last one at the end; -q silences them; a short run at the default interval
# (10 s) writes none; on a terminal (a pty made by Python) it draws the bar instead.
set -eu
M=$GEOLABEL_SHARED/fixtures/clip-tiny-b32
IMG=$GEOLABEL_SHARED/fixtures/expected/images/01_chelsea.png
printf 'cat\ndog\n' > classes.txt
fail() { echo "FAIL: $*"; exit 1; }
# interval 0: a line at every batch (one tile each), through a pipe
"$GEOLABEL" label --model "$M" --classes classes.txt --split 4x4 --batch 1 \
  --progress-interval 0 "$IMG" -o a.csv 2>&1 >/dev/null | cat > log.txt
# the option before the command, as -v, and spelled with '=' and GVL's underscore
"$GEOLABEL" --progress-interval=0 label --model "$M" --classes classes.txt --split 2x2 --batch 1 \
  "$IMG" -o b.csv 2> log2.txt
"$GEOLABEL" label --model "$M" --classes classes.txt --split 2x2 --batch 1 --progress_interval 0 \
  "$IMG" -o b.csv 2> log3.txt
"$PY" - <<'PYEOF'
import datetime, re
pat = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) label: (\d+)/(\d+) tiles \((\d+)%\), "
                 r"([0-9.]+) tiles/s(, ETA (\d\d):(\d\d):(\d\d))?$")
now = datetime.datetime.now(datetime.timezone.utc)
for name, total in (("log.txt", 16), ("log2.txt", 4), ("log3.txt", 4)):
    lines = [l for l in open(name).read().splitlines() if " label: " in l and "tiles (" in l]
    assert len(lines) >= total, (name, lines)
    done = []
    for l in lines:
        m = pat.match(l)
        assert m, (name, l)
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        assert abs((now - t).total_seconds()) < 600, l
        d, n, pct = int(m.group(2)), int(m.group(3)), int(m.group(4))
        assert n == total and pct == 100 * d // n, l
        done.append(d)
    assert done == sorted(done) and done[-1] == total, (name, done)
    assert "\r" not in open(name).read(), "a bar was drawn into a file"
print("progress lines ok")
PYEOF
# -q: nothing at all on stderr
"$GEOLABEL" label -q --model "$M" --classes classes.txt --split 4x4 --batch 1 --progress-interval 0 \
  "$IMG" -o c.csv 2> quiet.txt
[ ! -s quiet.txt ] || { cat quiet.txt; fail "-q printed"; }
# the default interval: a run this short writes no progress line
"$GEOLABEL" label --model "$M" --classes classes.txt --split 4x4 "$IMG" -o d.csv 2> default.txt
! grep -qE "^[0-9]{4}-[0-9-]+T[0-9:]+Z label: " default.txt || { cat default.txt; fail "progress line within 10 s"; }
# a bad value is a usage error
if "$GEOLABEL" label --progress-interval soon --model "$M" --classes classes.txt "$IMG" -o e.csv 2> err.txt; then
  fail "bad interval accepted"; fi
grep -q "progress-interval takes seconds" err.txt || { cat err.txt; fail "message"; }
# a terminal: the bar ('\r[###...') and no timestamped line
"$PY" - "$GEOLABEL" "$M" "$IMG" <<'PYEOF'
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen([sys.argv[1], "label", "--model", sys.argv[2], "--classes", "classes.txt",
                      "--split", "4x4", "--batch", "1", sys.argv[3], "-o", "tty.csv"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
assert p.wait() == 0
text = out.decode()
assert "\r[" in text and "16/16 tiles" in text, text
assert " label: " not in text.replace("geolabel:", ""), text
print("terminal bar ok")
PYEOF
echo "progress ok"
