#!/usr/bin/env bash
# Stop the cluster that ci/slurm-up.sh STATE_DIR started: cancel its jobs, then stop each daemon
# by the PID recorded in STATE_DIR/pids (TERM, then KILL after 15 s). Safe to run twice.
#
#   ci/slurm-down.sh STATE_DIR
set -uo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
STATE=$1
PIDS=$STATE/pids
[[ -d $PIDS ]] || { echo "slurm-down: no $PIDS: nothing to stop" >&2; exit 0; }
export SLURM_CONF=$STATE/etc/slurm.conf

pid_of() { [[ -s $PIDS/$1.pid ]] && cat "$PIDS/$1.pid"; }
alive() { local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null; }

# Jobs first, while the controller and the node still run: their steps end through SLURM.
if alive slurmctld && alive slurmd; then
    timeout -k 5 10 scancel --quiet --full --user="$(id -un)" >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do
        [[ -z $(timeout -k 2 5 squeue -h -t R,CG,PD -o %i 2>/dev/null) ]] && break
        sleep 0.5
    done
    # Any step process still on the node (by PID, as slurmd reports them).
    leftover=$(timeout -k 2 5 scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}')
    [[ -n $leftover ]] && kill -KILL $leftover 2>/dev/null
fi

status=0
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    pid=$(pid_of "$name") || continue
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "slurm-down: $name ($pid) ignored TERM: KILL" >&2
            kill -KILL "$pid" 2>/dev/null
            sleep 0.5
        fi
        if kill -0 "$pid" 2>/dev/null; then
            echo "slurm-down: $name ($pid) still running" >&2
            status=1
            continue
        fi
        echo "slurm-down: stopped $name ($pid)" >&2
    fi
    rm -f "$PIDS/$name.pid"
done
# the copy of the config at SLURM's default place (see slurm-up.sh), if it is still this cluster's
if [[ -s $STATE/system-conf ]]; then
    conf=$(cat "$STATE/system-conf")
    if [[ -f $conf ]] && head -1 "$conf" | grep -qxF "# rxrank ci/slurm-up.sh cluster: $(cd "$STATE" && pwd)"; then
        rm -f "$conf" && echo "slurm-down: removed $conf" >&2
    fi
    rm -f "$STATE/system-conf"
fi
exit $status
