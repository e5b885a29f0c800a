#!/usr/bin/env bash
# Stop what .ci/start_slurm.sh started: cancel the jobs, then end slurmd, slurmctld, slurmdbd, mariadbd
# and munged through their pid files (never by name; a stale pid file is ignored). Safe to run twice or
# on a machine where nothing runs. State and logs stay in $RFPIPE_SLURM_DIR (default /tmp/rfpipe-slurm).
set -uo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
DIR=${RFPIPE_SLURM_DIR:-/tmp/rfpipe-slurm}
t0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# alive = exists and is not a zombie (daemons are re-parented to PID 1, which may reap late)
alive() {  # $1 = pid, $2 = expected process name (guards against a reused PID from a stale pid file)
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

if [ -s "$DIR/run/slurmctld.pid" ] && alive "$(cat "$DIR/run/slurmctld.pid")" slurmctld; then
  jobs=$(timeout 10 squeue -h -o '%A' 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    echo "stop_slurm: cancelling jobs $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 20); do [ -z "$(timeout 5 squeue -h -t R,CG,PD 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi

stop_pid() {  # $1 = pid file, $2 = name
  local f=$1 pid t
  [ -s "$f" ] || return 0
  pid=$(cat "$f"); t=$(date +%s.%N)
  if alive "$pid" "$2"; then
    kill "$pid"
    for _ in $(seq 100); do alive "$pid" "$2" || break; sleep 0.1; done
    if alive "$pid" "$2"; then echo "stop_slurm: $2 ($pid) ignored TERM, killing" >&2; kill -9 "$pid"; fi
    echo "stop_slurm: $2 stopped ($(since "$t")s)"
  else
    echo "stop_slurm: $2 was not running (stale pid file removed)"
  fi
  rm -f "$f"
}
stop_pid "$DIR/run/slurmd.pid" slurmd
stop_pid "$DIR/run/slurmctld.pid" slurmctld
stop_pid "$DIR/run/slurmdbd.pid" slurmdbd
stop_pid "$DIR/run/mariadbd.pid" mariadbd
stop_pid "$DIR/run/munged.pid" munged
echo "stop_slurm: stopped in $(since "$t0")s (state and logs kept in $DIR)"
exit 0
