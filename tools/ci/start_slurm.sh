#!/usr/bin/env bash
# Start a one-node SLURM cluster with accounting (munge, mariadb, slurmdbd, slurmctld, slurmd) for
# the SLURM tests. Root only; installs Debian's packages with apt when they are missing.
#
#   tools/ci/start_slurm.sh STATE_DIR
#
# Everything (configs, logs, spool, database) lives in STATE_DIR; STATE_DIR/pids lists
# "name pid" of each daemon started, to stop them by pid. Clients find the cluster with
# SLURM_CONF=STATE_DIR/slurm.conf. Exits non-zero with the reason on the last line when a step fails.
#
# Why each setting (measured on a 2-core Debian VM with Slurm 22.05):
#   proctrack/linuxproc + task/none   no cgroups needed in a container
#   slurmdbd + mariadb                without accounting sacct fails and submitit sees every job
#                                     state as UNKNOWN, so a killed job's result() waits forever
#   preempt/partition_prio, REQUEUE,  a job in "debug" preempted by one in "urgent" gets USR2
#   preempt_send_user_signal          (its --signal) first, then GraceTime, then TERM
#   AuthInfo=cred_expire=10           a requeued job starts again after ~20-30 s, not ~120 s
set -euo pipefail
DIR=${1:?usage: start_slurm.sh STATE_DIR}
mkdir -p "$DIR"/{state,spool,log} /run/mysqld /run/munge
cd "$DIR"
: > pids
fail() { echo "start_slurm: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
    || ! command -v mariadbd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge slurmdbd mariadb-server) > log/apt.log 2>&1 \
    || fail "apt-get install failed: $(tail -n 3 log/apt.log | tr '\n' ' ')"
fi

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what did not come up (logs in $DIR/log)"
    sleep 0.2
  done
}

# munge: the key the package made, else a new one.
[ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || fail "no munge key"
if ! munge -n >/dev/null 2>&1; then
  munged --force --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" \
    || fail "munged did not start"
  wait_for 10 munged test -s "$DIR/munged.pid"
  echo "munged $(cat "$DIR/munged.pid")" >> pids
fi

# mariadb on the default socket (slurmdbd has no socket setting), no TCP.
if [ ! -d mysql ]; then
  mariadb-install-db --user=root --datadir="$DIR/mysql" --auth-root-authentication-method=socket \
    > log/mariadb-install.log 2>&1 || fail "mariadb-install-db failed"
fi
mariadbd --user=root --datadir="$DIR/mysql" --socket=/run/mysqld/mysqld.sock --skip-networking \
  --pid-file="$DIR/mariadb.pid" --log-error="$DIR/log/mariadb.log" 2>/dev/null &
echo "mariadbd $!" >> pids
wait_for 30 mariadb mariadb-admin --socket=/run/mysqld/mysqld.sock ping

# Free ports, not SLURM's fixed 6817-6819: daemons left by a killed earlier run may hold those.
read -r ctld_port slurmd_port dbd_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
) || fail "no free ports"
node=$(slurmd -C | head -n 1)  # "NodeName=vm CPUs=2 ... RealMemory=N": must match the machine
host=$(hostname -s)
cat > slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
EOF
chmod 600 slurmdbd.conf
cat > slurm.conf <<EOF
ClusterName=slowvid
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbd_port
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=60
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
export SLURM_CONF=$DIR/slurm.conf  # slurmdbd reads slurmdbd.conf from the same folder

slurmdbd || fail "slurmdbd did not start"
wait_for 20 slurmdbd test -s "$DIR/slurmdbd.pid"
echo "slurmdbd $(cat "$DIR/slurmdbd.pid")" >> pids
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster slowvid > /dev/null 2>&1 || true  # exists already on a second start
slurmctld -f "$SLURM_CONF" -c || fail "slurmctld did not start"  # -c: fresh job ids from 1
wait_for 20 slurmctld test -s "$DIR/slurmctld.pid"
echo "slurmctld $(cat "$DIR/slurmctld.pid")" >> pids
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
wait_for 20 slurmd test -s "$DIR/slurmd.pid"
echo "slurmd $(cat "$DIR/slurmd.pid")" >> pids
check_idle() { sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'; }
wait_for 30 "an idle node" check_idle
echo "start_slurm: up in $SECONDS s (SLURM_CONF=$SLURM_CONF)"
