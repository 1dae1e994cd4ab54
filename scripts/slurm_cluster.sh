#!/usr/bin/env bash
# A single-node Slurm cluster under one directory, from Debian's slurmctld, slurmd, slurm-client
# and munge: to try `--executor slurm` on one machine and to test it. Needs root (slurmd runs jobs
# as their submitter). Every file lives under DIR; the daemons are stopped by the PIDs recorded there.
#
#   scripts/slurm_cluster.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm_cluster.sh stop DIR
#   scripts/slurm_cluster.sh status DIR
#
# Environment: SLURM_CLUSTER_PORT (slurmctld's port, default 6817; slurmd uses the next one),
# SLURM_CRED_EXPIRE (seconds a requeued job waits before it may start again, default 10; Slurm's
# own default is 120).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
conf=$dir/slurm.conf

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$dir/$1.pid" 2>/dev/null || true; }

stop() {
  if [ -f "$conf" ] && alive "$(pid_of slurmctld)"; then
    # Running jobs would outlive slurmd: cancel them first, and give them a moment to go.
    SLURM_CONF=$conf scancel --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 20); do
      [ -z "$(SLURM_CONF=$conf squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for d in slurmd slurmctld munged; do
    pid=$(pid_of "$d")
    alive "$pid" || { rm -f "$dir/$d.pid"; continue; }
    kill -TERM "$pid"
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && kill -KILL "$pid"
    rm -f "$dir/$d.pid"
    echo "stopped $d (pid $pid)"
  done
}

start() {
  for b in slurmctld slurmd sbatch squeue scontrol munged; do
    command -v "$b" >/dev/null || {
      echo "$b not found: apt-get install slurmctld slurmd slurm-client munge" >&2
      exit 1
    }
  done
  [ "$(id -u)" = 0 ] || { echo "needs root (slurmd starts jobs as their users)" >&2; exit 1; }
  if alive "$(pid_of slurmctld)" && alive "$(pid_of slurmd)"; then
    echo "already running"
    echo "export SLURM_CONF=$conf"
    return
  fi
  stop >/dev/null
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  # slurmctld runs as the slurm user: every parent of DIR must let it through (mktemp -d makes 0700).
  p=$dir
  while [ "$p" != / ]; do
    p=$(dirname "$p")
    if ! runuser -u slurm -- test -x "$p"; then
      echo "the slurm user cannot enter $p (mode $(stat -c %a "$p")): use a directory it can reach" >&2
      exit 1
    fi
  done
  chown slurm:slurm "$dir/state" "$dir/log"
  local port=${SLURM_CLUSTER_PORT:-6817}
  local mem
  mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
  cat >"$conf" <<CONF
ClusterName=ganflow
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=${SLURM_CRED_EXPIRE:-10}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobRequeue=1
MinJobAge=300
SchedulerParameters=sched_interval=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ReturnToService=2
NodeName=localhost NodeHostname=$(hostname -s) CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  chmod 644 "$conf"
  # munge: reuse a running munged, else start one (as the munge user) and remember its PID.
  if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    runuser -u munge -- munged --foreground &>"$dir/log/munged.log" &
    echo $! >"$dir/munged.pid"
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  # Both daemons in the foreground (-D), so the PIDs recorded here are the daemons themselves.
  setsid slurmctld -D -f "$conf" </dev/null &>>"$dir/log/slurmctld.out" &
  echo $! >"$dir/slurmctld.pid"
  setsid slurmd -D -f "$conf" </dev/null &>>"$dir/log/slurmd.out" &
  echo $! >"$dir/slurmd.pid"
  for _ in $(seq 150); do
    state=$(SLURM_CONF=$conf sinfo -h -o %T 2>/dev/null || true)
    case $state in idle | mixed | allocated) break ;; esac
    sleep 0.2
  done
  case ${state:-} in
    idle | mixed | allocated) ;;
    *)
      echo "the cluster did not come up (node state '${state:-none}'); logs in $dir/log" >&2
      tail -n 5 "$dir"/log/*.log >&2 || true
      stop >/dev/null
      exit 1
      ;;
  esac
  echo "slurm cluster up: $(nproc) CPUs, ${mem} MB, partition main"
  echo "export SLURM_CONF=$conf"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status)
    for d in munged slurmctld slurmd; do
      pid=$(pid_of "$d")
      if alive "$pid"; then echo "$d running (pid $pid)"; else echo "$d not running"; fi
    done
    ;;
  *) usage ;;
esac
