#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on localhost, for tests and for trying the
# profiles/slurm profile by hand. Everything (config, keys, spool, logs, PID files, sockets)
# lives under STATE_DIR; nothing under /etc is changed and no service manager is needed.
#
#   ci/slurm-up.sh STATE_DIR [--accounting]
#   export SLURM_CONF=STATE_DIR/etc/slurm.conf     # printed on the last line
#   ...  sinfo, sbatch, snakemake --profile profiles/slurm ...
#   ci/slurm-down.sh STATE_DIR                     # stops every daemon by its PID
#
# --accounting also starts MariaDB (TCP on 127.0.0.1 only) and slurmdbd, so that `sacct` works
# (needs the packages slurmdbd and mariadb-server; ci/install-system-deps.sh installs them).
# Without it the cluster has AccountingStorageType=accounting_storage/none: `sacct` exists but
# every query fails, so the Snakemake SLURM plugin must use `squeue` for its status checks.
#
# Needs root (the daemons run as root, SlurmUser=root), and the Debian packages munge,
# slurmctld, slurmd and slurm-client. Ports: RXRANK_SLURM_PORT (default 6817) for slurmctld,
# +1 slurmd, +2 slurmdbd, +3 MariaDB. On any failure the daemons already started are stopped.
set -euo pipefail

usage() { echo "usage: $0 STATE_DIR [--accounting]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
STATE=$1
shift
ACCOUNTING=0
for arg in "$@"; do
    case $arg in
        --accounting) ACCOUNTING=1 ;;
        *) usage ;;
    esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
die() { echo "slurm-up: $*" >&2; "$HERE/slurm-down.sh" "$STATE" >&2 || true; exit 1; }

[[ $(id -u) -eq 0 ]] || { echo "slurm-up: needs root (the daemons run as root)" >&2; exit 1; }
for bin in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$bin" >/dev/null || { echo "slurm-up: $bin not found: run ci/install-system-deps.sh" >&2; exit 1; }
done
if [[ $ACCOUNTING -eq 1 ]]; then
    for bin in slurmdbd mariadbd mariadb-install-db mariadb sacct; do
        command -v "$bin" >/dev/null || { echo "slurm-up: $bin not found (needed by --accounting): run ci/install-system-deps.sh" >&2; exit 1; }
    done
fi

PORT=${RXRANK_SLURM_PORT:-6817}
CTLD_PORT=$PORT
SLURMD_PORT=$((PORT + 1))
DBD_PORT=$((PORT + 2))
DB_PORT=$((PORT + 3))

mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
if [[ -d $STATE/pids ]] && compgen -G "$STATE/pids/*.pid" >/dev/null; then
    echo "slurm-up: $STATE/pids has PID files: stopping the previous cluster first" >&2
    "$HERE/slurm-down.sh" "$STATE" >&2 || true
fi
ETC=$STATE/etc LOG=$STATE/log RUN=$STATE/run PIDS=$STATE/pids
rm -rf "$STATE/spool" "$RUN"
mkdir -p "$ETC" "$LOG" "$RUN" "$PIDS" "$STATE/spool/ctld" "$STATE/spool/d"
chmod 700 "$STATE" "$ETC" "$RUN"
# A stale controller PID file from a Debian service start (no systemd here) confuses nothing of
# ours, but a later `slurmctld` started with Debian's defaults would refuse to start with it.
rm -f /run/slurmctld.pid /run/slurmd.pid

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$CTLD_PORT" "$SLURMD_PORT"; do
    port_busy "$p" && { echo "slurm-up: port $p on 127.0.0.1 is in use (another SLURM?); set RXRANK_SLURM_PORT" >&2; exit 1; }
done

# start NAME CMD...: run a daemon in the foreground mode of its own, detached, PID recorded.
start() {
    local name=$1
    shift
    setsid "$@" >"$LOG/$name.out" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
}
alive() { kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
    echo "slurm-up: $what ready after $((SECONDS - T0)) s" >&2
}
T0=$SECONDS

# --- munge: own key and socket -------------------------------------------------------------
if [[ ! -s $ETC/munge.key ]]; then
    dd if=/dev/urandom of="$ETC/munge.key" bs=1024 count=1 status=none
fi
chmod 400 "$ETC/munge.key"
MUNGE_SOCKET=$RUN/munge.socket
start munged munged --foreground --force --socket="$MUNGE_SOCKET" --key-file="$ETC/munge.key" \
    --log-file="$LOG/munged.log" --pid-file="$RUN/munged.pid" --seed-file="$RUN/munged.seed"
wait_for 20 munged munge --socket="$MUNGE_SOCKET" --string=ping --output=/dev/null \
    || die "munged did not start: $(tail -5 "$LOG/munged.out" "$LOG/munged.log" 2>/dev/null)"

# --- node size: what slurmd detects, less 1 GiB for the controller and the workflow's driver ---
read -r CPUS MEM < <(slurmd -C | awk '/^NodeName/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; print v["CPUs"], v["RealMemory"]}')
NODE_MEM=$((MEM - 1024))
DEF_MEM=$((NODE_MEM / CPUS / 2))

if [[ $ACCOUNTING -eq 1 ]]; then
    ACCOUNTING_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# for the slurmdbd connection this names the munge socket (AuthInfo is not used for it)
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
    ACCOUNTING_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

cat >"$ETC/slurm.conf" <<EOF
# Written by ci/slurm-up.sh: single node on localhost, no cgroups, daemons run as root.
ClusterName=rxrank
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Without DefMemPerCPU a job with no --mem gets the whole node and jobs run one at a time.
DefMemPerCPU=$DEF_MEM
# Finished jobs stay visible to squeue for MinJobAge seconds: the Snakemake SLURM plugin only uses
# squeue for status checks when this is >= 3 x its init_seconds_before_status_checks.
MinJobAge=300
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
JobCompType=jobcomp/none
$ACCOUNTING_CONF
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$NODE_MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$ETC/slurm.conf

# The plugin's job step (snakemake-executor-plugin-slurm-jobstep) removes SLURM_CONF, with every
# other SLURM_* variable but the job's IDs, from the environment of the `srun` it runs inside each
# job, so inside a job SLURM's commands only find the config at its default place. Put a copy there
# (marked, and removed again by slurm-down.sh); refuse to overwrite a config that is not ours.
SYSTEM_CONF=${RXRANK_SLURM_SYSTEM_CONF:-/etc/slurm/slurm.conf}
MARKER="# rxrank ci/slurm-up.sh cluster: $STATE"
if [[ -e $SYSTEM_CONF ]] && ! grep -q '^# rxrank ci/slurm-up.sh cluster: ' "$SYSTEM_CONF"; then
    die "$SYSTEM_CONF exists and was not written by this script: not overwriting it (is this a real SLURM host?)"
fi
mkdir -p "$(dirname "$SYSTEM_CONF")"
{ echo "$MARKER"; cat "$ETC/slurm.conf"; } >"$SYSTEM_CONF"
echo "$SYSTEM_CONF" >"$STATE/system-conf"

# --- accounting: MariaDB on 127.0.0.1 and slurmdbd ------------------------------------------
if [[ $ACCOUNTING -eq 1 ]]; then
    DB=$STATE/mariadb
    if [[ ! -d $DB/mysql ]]; then
        mkdir -p "$DB"
        mariadb-install-db --no-defaults --user=root --datadir="$DB" --auth-root-authentication-method=socket \
            >"$LOG/mariadb-install.out" 2>&1 || die "mariadb-install-db failed: $(tail -5 "$LOG/mariadb-install.out")"
    fi
    DB_SOCKET=$RUN/mariadb.sock
    start mariadbd mariadbd --no-defaults --user=root --datadir="$DB" --socket="$DB_SOCKET" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$RUN/mariadbd.pid" \
        --log-error="$LOG/mariadbd.log" --innodb-buffer-pool-size=128M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900
    wait_for 60 mariadbd mariadb --no-defaults --socket="$DB_SOCKET" -u root -e "SELECT 1" \
        || die "mariadbd did not start: $(tail -5 "$LOG/mariadbd.log")"
    DB_PASS=rxrank-ci-$RANDOM$RANDOM
    mariadb --no-defaults --socket="$DB_SOCKET" -u root <<EOF || die "could not create the accounting database user"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
    cat >"$ETC/slurmdbd.conf" <<EOF
# Written by ci/slurm-up.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
    # slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF.
    start slurmdbd slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -n list cluster \
        || die "slurmdbd did not start: $(tail -5 "$LOG/slurmdbd.log" "$LOG/slurmdbd.out" 2>/dev/null)"
    sacctmgr -i add cluster rxrank >/dev/null 2>&1 || true
fi

# --- controller and node ----------------------------------------------------------------------
start slurmctld slurmctld -D -i -f "$ETC/slurm.conf"
wait_for 60 slurmctld scontrol ping \
    || die "slurmctld did not start: $(tail -5 "$LOG/slurmctld.log" "$LOG/slurmctld.out" 2>/dev/null)"
start slurmd slurmd -D -N localhost -f "$ETC/slurm.conf"
node_idle() { [[ $(sinfo -h -n localhost -o %t 2>/dev/null) == idle ]]; }
wait_for 60 "node localhost (idle)" node_idle \
    || die "node did not become idle: $(sinfo -N -l 2>&1; tail -5 "$LOG/slurmd.log" "$LOG/slurmd.out" 2>/dev/null)"
for name in $(cd "$PIDS" && ls); do
    alive "${name%.pid}" || die "${name%.pid} died: $(tail -5 "$LOG/${name%.pid}.out")"
done
echo "slurm-up: cluster up in $((SECONDS - T0)) s (CPUs=$CPUS RealMemory=$NODE_MEM DefMemPerCPU=$DEF_MEM accounting=$ACCOUNTING); PIDs in $PIDS" >&2
echo "export SLURM_CONF=$ETC/slurm.conf"
