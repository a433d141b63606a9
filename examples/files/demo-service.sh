#!/bin/sh
# A stand-in for a real service, runnable by any user: its "daemon" is a sleep
# process whose pid is kept next to this script.
#   demo-service start | stop | status
set -u
dir=$(cd "$(dirname "$0")" && pwd)
pidfile=$dir/demo-service.pid

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case ${1:-} in
start)
    if running; then
        echo "already running (pid $(cat "$pidfile"))"
        exit 0
    fi
    nohup sleep 86400 >/dev/null 2>&1 &
    echo $! >"$pidfile"
    echo "started (pid $!)"
    ;;
stop)
    if running; then
        pid=$(cat "$pidfile")
        kill "$pid"
        # Wait until it is gone, as a real stop would.
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
        echo "stopped (pid $pid)"
    else
        echo "not running"
    fi
    rm -f "$pidfile"
    ;;
status)
    if running; then
        echo "running (pid $(cat "$pidfile"))"
    else
        echo "stopped"
        exit 3
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
