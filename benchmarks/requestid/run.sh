#!/bin/sh
# E1 with and without the request-ID middleware: server pinned to core 0, wrk to core 1, one run each.
# Usage: [ROUNDS=3] benchmarks/requestid/run.sh [seconds]   (PYTHON, PYTHONPATH as for the tests)
set -eu
here=$(dirname "$0")
py=${PYTHON:-python}
secs=${1:-5}
port=18931
bench() {  # bench LABEL PATH CMD...
    label=$1; path=$2; shift 2
    taskset -c 0 "$@" >/dev/null 2>&1 &
    pid=$!
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$port$path"; do
        i=$((i + 1)); [ $i -gt 100 ] && { echo "$label: server did not start"; kill $pid; return 1; }; sleep 0.1
    done
    taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$port$path" >/dev/null
    out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" --latency "http://127.0.0.1:$port$path")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "$label req/s=$rps p99=$p99"
    kill $pid; wait $pid 2>/dev/null || true
}
# Alternate plain and reqid for ROUNDS rounds: the machine's noise then hits both alike.
for round in $(seq "${ROUNDS:-1}"); do
    bench fulmen-plain / "$py" "$here/fulmen_reqid_app.py" $port plain
    bench fulmen-reqid / "$py" "$here/fulmen_reqid_app.py" $port reqid
done
bench fulmen-reqid-asgi-form / "$py" "$here/fulmen_reqid_app.py" $port reqid-asgi
bench fulmen-mounted:/ / "$py" "$here/fulmen_reqid_app.py" $port mounted
bench fulmen-mounted:/traced/ /traced/ "$py" "$here/fulmen_reqid_app.py" $port mounted
if "$py" -c "import asgi_correlation_id" 2>/dev/null; then
    bench fastapi-plain / "$py" "$here/fastapi_cid_app.py" $port plain
    bench fastapi-cid / "$py" "$here/fastapi_cid_app.py" $port cid
fi
