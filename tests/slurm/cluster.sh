#!/usr/bin/env bash
# Throwaway one-node SLURM cluster (with accounting) for tests and CI.
#
#   cluster.sh install        install slurm-wlm, munge, slurmdbd, mariadb-server
#                             (no-op when present; never starts any service)
#   cluster.sh start  DIR     start MariaDB, munged, slurmdbd, slurmctld, slurmd
#                             with all config/state/logs under DIR; waits until
#                             the node is idle and sacct answers
#   cluster.sh stop   DIR     cancel jobs, kill every PID in DIR/pids and
#                             leftover job processes (idempotent)
#   cluster.sh status DIR     print sinfo / squeue / sacct
#
# After `start`, `source DIR/env.sh` exports SLURM_CONF=DIR/slurm.conf (plus
# SLURM_TEST_* helpers). Account `testacct` (or $SLURM_TEST_ACCOUNT),
# partition `debug`. Env knobs: SLURM_CLUSTER_TIMEOUT (per wait step, 60 s).
#
# Design notes (Debian 12, Slurm 22.05, munge 0.5.15, MariaDB 10.11):
#  * Must run as root. No systemd: every daemon runs in the foreground
#    (-D / -F), detached with setsid, and its PID is appended to DIR/pids.
#  * The host name is not "localhost", so the node is declared as
#    NodeName=localhost NodeAddr=127.0.0.1 and slurmd is started with -N.
#  * No cgroups: proctrack/linuxproc, task/none, jobacct_gather/none.
#  * All TCP ports are picked free at start time (20000-32767, below the
#    Linux ephemeral range) and bound to 127.0.0.1.
#  * munged has to use the system paths (/etc/munge, /run/munge, ...) because
#    it refuses insecure directories and DIR is typically a root-only tmp dir.
#    An already working munged is reused (and then not stopped by `stop`).
#    Hence only one cluster at a time per machine.
#  * /etc/slurm/slurm.conf becomes a symlink to DIR/slurm.conf while the
#    cluster runs (see link_etc_conf); `stop` removes it again.
set -euo pipefail

readonly PROG=${0##*/}
readonly PACKAGES=(slurm-wlm munge slurmdbd mariadb-server)
readonly ACCOUNT=${SLURM_TEST_ACCOUNT:-testacct}
readonly PARTITION=debug
readonly CLUSTER_NAME=testcluster
readonly DB_NAME=slurm_acct_db
readonly DB_USER=slurm
readonly DB_PASS=slurmdbpass
# Daemon names we are allowed to kill (guards `stop` against PID reuse).
readonly KNOWN_DAEMONS='munged|mariadbd|mysqld|slurmdbd|slurmctld|slurmd'
# Upper bound (seconds) for each wait step during `start`.
readonly WAIT_TIMEOUT=${SLURM_CLUSTER_TIMEOUT:-60}

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$PROG" -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_root() { [[ $EUID -eq 0 ]] || die "must run as root"; }

# Show the last lines of every given log file (for failure diagnostics).
show_logs() {
    local f seen=' '
    for f in "$@"; do
        [[ -f $f && $seen != *" $f "* ]] || continue
        seen+="$f "
        printf '\n----- tail %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2 || true
    done
}

# ----------------------------------------------------------------- install ---

packages_missing() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [[ $status == installed ]] || return 0
    done
    return 1
}

cmd_install() {
    need_root
    if ! packages_missing; then
        log "packages already installed: ${PACKAGES[*]}"
        return 0
    fi
    local t0 created_policy=''
    t0=$(now)
    export DEBIAN_FRONTEND=noninteractive
    # Keep maintainer scripts from starting munge/mariadb/slurm* via
    # invoke-rc.d (harmless when a policy-rc.d already exists, e.g. Docker).
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # Refresh the package lists only when apt does not know a package yet.
    local p
    for p in "${PACKAGES[@]}"; do
        if ! apt-cache show "$p" >/dev/null 2>&1; then
            log "apt-get update (package lists lack $p)"
            apt-get update -q
            break
        fi
    done
    log "apt-get install ${PACKAGES[*]}"
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${PACKAGES[@]}"
    if [[ -n $created_policy ]]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    log "install took $(elapsed "$t0") s"
}

# ------------------------------------------------------------------- start ---

# Print a TCP port in 20000..32767 that nothing on 127.0.0.1 listens on and
# that was not handed out before in this run (tracked in USED_PORTS).
USED_PORTS=' '
free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12768))
        [[ $USED_PORTS == *" $port "* ]] && continue
        # A successful connect means the port is taken.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        USED_PORTS+="$port "
        echo "$port"
        return 0
    done
    die "no free TCP port found"
}

# Start "$@" detached (own session, no tty, stdout/stderr to $logfile),
# record its PID in DIR/pids and set LAST_PID.
LAST_PID=''
declare -A OUTFILE=()
spawn() {
    local logfile=$1
    shift
    setsid "$@" </dev/null >>"$logfile" 2>&1 9>&- &
    LAST_PID=$!
    OUTFILE[$LAST_PID]=$logfile
    echo "$LAST_PID" >>"$DIR/pids"
}

# wait_until DESCRIPTION PID LOGFILE COMMAND...
# Poll COMMAND until it succeeds; fail (with the log tail) on timeout or when
# PID (if not empty) has died.
wait_until() {
    local what=$1 pid=$2 logfile=$3
    shift 3
    local deadline=$((SECONDS + WAIT_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            # fatal startup errors often only reach stdout/stderr
            show_logs "$logfile" "${OUTFILE[$pid]:-}"
            die "$what: process $pid died (see $logfile)"
        fi
        if ((SECONDS >= deadline)); then
            show_logs "$logfile" "${pid:+${OUTFILE[$pid]:-}}"
            die "$what: not ready after ${WAIT_TIMEOUT}s (see $logfile)"
        fi
        sleep 0.2
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
sacct_works() { timeout 10 sacct -a -X -n -S now-1hours >/dev/null 2>&1; }

node_idle() {
    local state
    state=$(timeout 10 sinfo -h -N -n localhost -o %T 2>/dev/null) || return 1
    [[ $state == idle ]]
}

# Print "LIVE TOTAL": how many of the PIDs in DIR/pids are still our daemons.
count_alive() {
    local total=0
    if [[ -f $DIR/pids ]]; then
        total=$(grep -c '^[0-9]' "$DIR/pids" || true)
    fi
    echo "$(our_live_pids | wc -l) $total"
}

start_munge() {
    # Serialise concurrent starts: they all share the one system munged.
    # (fd 9 is closed in spawned daemons, see spawn)
    mkdir -p /run/lock
    exec 9>/run/lock/slurm-test-cluster-munge.lock
    flock -w "$WAIT_TIMEOUT" 9 || die "could not lock munge startup"
    if munge_works; then
        log "munged already running; reusing it"
        exec 9>&-
        return 0
    fi
    local d
    for d in /run/munge /var/log/munge /var/lib/munge /etc/munge; do
        install -d -o munge -g munge -m 0755 "$d"
    done
    chmod 0700 /var/log/munge /var/lib/munge /etc/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            create-munge-key -f
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    # setpriv exec()s munged directly, so $! is munged's own PID (runuser/su
    # would fork and leave a wrapper process in between).
    spawn "$DIR/log/munged.out" setpriv --reuid=munge --regid=munge \
        --init-groups /usr/sbin/munged -F
    wait_until munged "$LAST_PID" "$DIR/log/munged.out" munge_works
    exec 9>&-
}

start_mariadb() {
    local datadir=$DIR/mysql sock=$DIR/run/mysqld.sock
    # Unix socket paths are limited to 107 bytes.
    if ((${#sock} > 100)); then
        sock=/tmp/slurm-mysqld-$DB_PORT.sock
    fi
    if [[ ! -d $datadir/mysql ]]; then
        mariadb-install-db --no-defaults --user=root --datadir="$datadir" \
            --auth-root-authentication-method=socket --skip-test-db \
            --skip-name-resolve >"$DIR/log/mariadb-install.log" 2>&1 ||
            { show_logs "$DIR/log/mariadb-install.log"; die "mariadb-install-db failed"; }
    fi
    # Executed by mariadbd on every start; creates slurmdbd's DB and user.
    cat >"$DIR/mariadb-init.sql" <<EOF
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
EOF
    # Loopback-only server. The innodb_* values are the smallest ones that
    # keep slurmdbd from logging "Database settings not recommended values"
    # (it wants >= half of 1G / 64M / 900); the buffer pool is allocated
    # lazily, so 512M costs little real memory.
    spawn "$DIR/log/mariadb.log" mariadbd --no-defaults --user=root \
        --datadir="$datadir" --socket="$sock" --pid-file="$DIR/run/mariadbd.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
        --skip-log-bin --innodb-buffer-pool-size=512M \
        --innodb-log-file-size=32M --innodb-lock-wait-timeout=900 \
        --init-file="$DIR/mariadb-init.sql" --log-error="$DIR/log/mariadb.log"
    wait_until mariadbd "$LAST_PID" "$DIR/log/mariadb.log" \
        mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$DB_PORT" \
        -u "$DB_USER" "-p$DB_PASS" -e 'SELECT 1' "$DB_NAME"
}

write_configs() {
    local cpus mem_mb
    # slurmstepd binds unix sockets SPOOL/localhost_JOBID.STEPID (up to ~35
    # chars) and sun_path holds 107: fall back to a short dir for long DIRs.
    SPOOL_DIR=$DIR/spool/slurmd
    if ((${#SPOOL_DIR} > 70)); then
        SPOOL_DIR=$(mktemp -d /tmp/slurmd-spool.XXXXXX)
    fi
    cpus=$(nproc)
    # Advertise 80% of physical memory (never more than the machine has,
    # otherwise slurmd drains the node with "Low RealMemory").
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)

    cat >"$DIR/slurm.conf" <<EOF
# Generated by $PROG -- one-node test cluster, everything under $DIR
ClusterName=$CLUSTER_NAME
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd / cgroups available
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Use the node definition below even if slurmd detects something else
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs visible in squeue/scontrol for a while
MinJobAge=300
# Fast scheduling/short timeouts for tests
SchedulerParameters=sched_interval=2
MessageTimeout=10
SlurmdTimeout=60
KillWait=5
# Accounting via slurmdbd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations
JobCompType=jobcomp/none
DefMemPerCPU=500
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

    # slurmdbd insists on mode 600 owned by SlurmUser (root here).
    install -m 0600 -o root -g root /dev/null "$DIR/slurmdbd.conf"
    cat >"$DIR/slurmdbd.conf" <<EOF
# Generated by $PROG
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF

    cat >"$DIR/env.sh" <<EOF
# source me: talk to the test cluster in $DIR
export SLURM_CONF=$DIR/slurm.conf
export SLURM_TEST_CLUSTER_DIR=$DIR
export SLURM_TEST_ACCOUNT=$ACCOUNT
export SLURM_TEST_PARTITION=$PARTITION
EOF
}

# Point the compiled-in default config path at our slurm.conf. Needed because
# snakemake-executor-plugin-slurm-jobstep strips every SLURM_* variable
# (SLURM_CONF included) before its nested `srun`, which then finds no config.
# A real (non-symlink) /etc/slurm/slurm.conf is never touched.
link_etc_conf() {
    local etc=/etc/slurm/slurm.conf
    if [[ -e $etc && ! -L $etc ]]; then
        log "WARNING: $etc exists and is not ours; jobs that drop SLURM_CONF" \
            "(snakemake slurm-jobstep) will use it instead of $DIR/slurm.conf"
        return 0
    fi
    mkdir -p /etc/slurm
    ln -sfn "$DIR/slurm.conf" "$etc"
}

unlink_etc_conf() {
    local etc=/etc/slurm/slurm.conf
    if [[ -L $etc && $(readlink "$etc") == "$DIR/slurm.conf" ]]; then
        rm -f "$etc"
    fi
}

# Read the ports of an earlier start of this DIR (so restarts reuse them).
read_ports() {
    local conf=$DIR/slurm.conf dbdconf=$DIR/slurmdbd.conf
    [[ -f $conf && -f $dbdconf ]] || return 1
    CTLD_PORT=$(sed -n 's/^SlurmctldPort=//p' "$conf")
    SLURMD_PORT=$(sed -n 's/^SlurmdPort=//p' "$conf")
    DBD_PORT=$(sed -n 's/^DbdPort=//p' "$dbdconf")
    DB_PORT=$(sed -n 's/^StoragePort=//p' "$dbdconf")
    SPOOL_DIR=$(sed -n 's/^SlurmdSpoolDir=//p' "$conf")
    [[ -n $SPOOL_DIR ]] || return 1
    local p
    for p in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT"; do
        [[ $p =~ ^[0-9]+$ ]] && ! port_open "$p" || return 1
    done
}

cmd_start() {
    need_root
    command -v slurmctld >/dev/null || die "slurm not installed; run: $0 install"
    local t0
    t0=$(now)
    mkdir -p "$DIR"
    local live total
    read -r live total < <(count_alive)
    if ((live > 0 && live < total)); then
        log "cluster in $DIR only partly running ($live of $total); restarting"
        cmd_stop
        live=0
    fi
    if ((live > 0)); then
        log "cluster in $DIR already running"
    else
        : >"$DIR/pids"
        # On any failure below, kill what was started so nothing leaks
        # (config and logs stay in DIR for inspection).
        trap 'if [[ $? -ne 0 ]]; then log "start failed; stopping"; cmd_stop; fi' EXIT
        mkdir -p "$DIR"/{log,run,state}
        if ! read_ports; then
            DB_PORT=$(free_port)
            DBD_PORT=$(free_port)
            CTLD_PORT=$(free_port)
            SLURMD_PORT=$(free_port)
            write_configs
        fi
        mkdir -p "$SPOOL_DIR"
        export SLURM_CONF=$DIR/slurm.conf

        start_munge
        log "munged ready ($(elapsed "$t0") s)"
        start_mariadb
        log "mariadbd ready ($(elapsed "$t0") s)"

        spawn "$DIR/log/slurmdbd.out" slurmdbd -D
        wait_until slurmdbd "$LAST_PID" "$DIR/log/slurmdbd.log" port_open "$DBD_PORT"
        log "slurmdbd ready ($(elapsed "$t0") s)"

        # Register cluster/account/users before slurmctld connects.
        local users
        users=$(printf '%s\n' root "$(id -un)" ${SUDO_USER:+"$SUDO_USER"} | sort -u | paste -sd,)
        wait_until "sacctmgr add cluster" "$LAST_PID" "$DIR/log/slurmdbd.log" \
            sacctmgr_ok add cluster "$CLUSTER_NAME"
        sacctmgr_ok add account "$ACCOUNT" Cluster="$CLUSTER_NAME" \
            Description=tests Organization=tests ||
            die "sacctmgr add account failed"
        sacctmgr_ok add user "$users" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" \
            Cluster="$CLUSTER_NAME" || die "sacctmgr add user failed"
        log "cluster/account/users registered ($(elapsed "$t0") s)"

        spawn "$DIR/log/slurmctld.out" slurmctld -D
        local ctld_pid=$LAST_PID
        wait_until slurmctld "$ctld_pid" "$DIR/log/slurmctld.log" \
            timeout 10 scontrol ping
        log "slurmctld ready ($(elapsed "$t0") s)"

        spawn "$DIR/log/slurmd.out" slurmd -D -N localhost
        wait_until "slurmd (node idle)" "$LAST_PID" "$DIR/log/slurmd.log" node_idle
    fi
    export SLURM_CONF=$DIR/slurm.conf
    link_etc_conf
    wait_until "sinfo: node idle" "" "$DIR/log/slurmctld.log" node_idle
    wait_until "sacct" "" "$DIR/log/slurmdbd.log" sacct_works
    trap - EXIT
    log "cluster up in $(elapsed "$t0") s; source $DIR/env.sh"
}

# sacctmgr that treats "already exists" as success.
sacctmgr_ok() {
    local out rc=0
    out=$(timeout 20 sacctmgr -i "$@" 2>&1) || rc=$?
    [[ $rc -eq 0 || $out == *"Nothing new added"* || $out == *"already exists"* ]]
}

# -------------------------------------------------------------------- stop ---

# PIDs from DIR/pids (reverse start order) that are alive and still one of
# our daemons.
our_live_pids() {
    local pid stat comm state
    [[ -f $DIR/pids ]] || return 0
    tac "$DIR/pids" | while read -r pid; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # "PID (COMM) STATE ..."; a zombie (Z) has exited already, only its
        # reaping by init is pending (may take seconds in containers).
        comm=${stat#*(}
        comm=${comm%%)*}
        state=${stat##*) }
        state=${state%% *}
        if [[ $comm =~ ^($KNOWN_DAEMONS)$ && $state != [ZX] ]]; then
            echo "$pid"
        fi
    done
    return 0
}

# Leftovers of this cluster's jobs: slurmstepd started by our slurmd, and job
# processes (SLURM_JOB_ID + our ClusterName in their environment).
# proctrack/linuxproc only follows the parent chain, so a job process that
# got re-parented to init (e.g. the batch-level snakemake after scancel) is
# never killed by Slurm itself.
# (Scans /proc directly: minimal images have no procps/pgrep.)
our_leftovers() {
    local d pid env
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $pid == "$$" || $pid == "$PPID" ]] && continue
        # newline-separated, with a leading and trailing newline
        env=$'\n'$(tr '\0' '\n' 2>/dev/null <"$d/environ")$'\n' || continue
        if [[ $env == *$'\n'"SLURM_CONF=$DIR/slurm.conf"$'\n'* &&
            $(<"$d/comm") == slurmstepd ]] 2>/dev/null; then
            echo "$pid"
        elif [[ $env == *$'\n'SLURM_JOB_ID=* &&
            $env == *$'\n'"SLURM_CLUSTER_NAME=$CLUSTER_NAME"$'\n'* ]]; then
            echo "$pid"
        fi
    done
    return 0
}

controller_alive() {
    local pid
    for pid in $(our_live_pids); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == slurmctld ]] && return 0
    done
    return 1
}

cmd_stop() {
    need_root
    local t0 pids
    t0=$(now)
    if [[ ! -f $DIR/pids ]]; then
        log "nothing to stop in $DIR"
        return 0
    fi
    pids=$(our_live_pids | paste -sd' ')
    if [[ -n $pids ]]; then
        # Cancel jobs first so that slurmstepd/job processes go away cleanly
        # (only while slurmctld lives; scancel would wait for it otherwise).
        if [[ -f $DIR/slurm.conf ]] && controller_alive; then
            SLURM_CONF=$DIR/slurm.conf timeout 5 scancel --quiet \
                --partition="$PARTITION" >/dev/null 2>&1 || true
        fi
        log "stopping PIDs: $pids"
        # shellcheck disable=SC2086 # word splitting wanted
        kill -TERM $pids 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while [[ -n $(our_live_pids) ]] && ((SECONDS < deadline)); do
            sleep 0.2
        done
        pids=$(our_live_pids | paste -sd' ')
        if [[ -n $pids ]]; then
            log "still alive after 10s, SIGKILL: $pids"
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
        fi
    fi
    unlink_etc_conf
    # short spool dir outside DIR (see write_configs)
    local spool
    spool=$(sed -n 's/^SlurmdSpoolDir=//p' "$DIR/slurm.conf" 2>/dev/null || true)
    if [[ $spool == /tmp/slurmd-spool.* ]]; then
        rm -rf -- "$spool"
    fi
    pids=$(our_leftovers | paste -sd' ')
    if [[ -n $pids ]]; then
        log "killing leftover job processes: $pids"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    log "stopped in $(elapsed "$t0") s"
}

# ------------------------------------------------------------------ status ---

cmd_status() {
    [[ -f $DIR/slurm.conf ]] || die "no cluster config in $DIR"
    export SLURM_CONF=$DIR/slurm.conf
    local rc=0
    echo "== sinfo"
    timeout 10 sinfo -N -l || rc=1
    echo "== squeue"
    timeout 10 squeue || rc=1
    echo "== sacct (last hour)"
    timeout 10 sacct -a -X -S now-1hours \
        -o JobID,JobName%20,Account,Partition,State,ExitCode,Elapsed || rc=1
    return "$rc"
}

# -------------------------------------------------------------------- main ---

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

main() {
    local cmd=${1:-}
    case $cmd in
    install) cmd_install ;;
    start | stop | status)
        [[ $# -eq 2 && -n $2 ]] || usage
        DIR=$(realpath -m -- "$2")
        readonly DIR
        "cmd_$cmd"
        ;;
    *) usage ;;
    esac
}

main "$@"
