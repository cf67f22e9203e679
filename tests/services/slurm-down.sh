#!/usr/bin/env bash
# Stop what slurm-up.sh started (jobs first).
scancel --full -u root 2>/dev/null || true
for f in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid; do
  [ -s $f ] || continue
  pid=$(cat $f)
  kill -TERM $pid 2>/dev/null || continue
  for _ in $(seq 100); do
    kill -0 $pid 2>/dev/null || break
    [ "$(ps -o stat= -p $pid 2>/dev/null | cut -c1)" = Z ] && break
    sleep 0.1
  done
done
