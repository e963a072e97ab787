#!/usr/bin/env bash
# Handshake rate: N sequential logins running `true`, OpenSSH client and whelk client, against
# `whelk server` and a private sshd on loopback, per key exchange method. Prints logins per
# second (wall clock, one login at a time) and CPU milliseconds per login on each side
# (client: the client processes; server: the server process and every child it reaped, i.e.
# sshd's per-connection processes and the `true` each login runs).
#
#   benches/handshake.sh [N]          # N logins per row (default 50)
#   benches/handshake.sh memory [COUNTS...]   # memory per idle connection (default 0 100 500)
#   WHELK=path/to/whelk benches/handshake.sh
#
# Needs: a release `whelk` (default target/release/whelk; `cargo build --release -p whelk-cli`),
# OpenSSH (ssh, sshd, ssh-keygen). Root may run it (sshd needs /run/sshd). Loopback only.
# ML-KEM rows are whelk <-> whelk only: OpenSSH 9.2 has no mlkem768x25519-sha256.
set -euo pipefail

MODE=rate
if [ "${1:-}" = memory ]; then MODE=memory; shift; fi
N=${1:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHELK=${WHELK:-$ROOT/target/release/whelk}
[ -x "$WHELK" ] || { echo "no release whelk at $WHELK (cargo build --release -p whelk-cli)" >&2; exit 1; }
for t in ssh ssh-keygen /usr/sbin/sshd; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in $(client_pids) "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 never opened" >&2; exit 1
}
# utime+stime+cutime+cstime of a process, in clock ticks.
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"

# The login user's shell runs `true` for every login: as root, log in as a user whose shell is
# /bin/sh (root's bash sources ~/.bashrc for SSH commands, which can cost more than the
# handshake); `whelk server` serves only the user it runs as, so it runs as that user too.
run_as=()
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
    user=${BENCH_USER:-whelk-test}
    id "$user" >/dev/null || { echo "as root, create a user $user with shell /bin/sh" >&2; exit 1; }
    chmod 755 "$dir"
    mkdir -p "$dir/home"
    chown "$user" "$dir/home" "$dir/host_ed25519"
    run_as=(env HOME="$dir/home" setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups)
fi
wport=$(free_port)
"${run_as[@]}" "$WHELK" server --listen "127.0.0.1:$wport" --host-key "$dir/host_ed25519" \
    --authorized-keys "$dir/authorized_keys" 2>"$dir/whelk.log" &
wpid=$!; pids+=("$wpid")

mkdir -p /run/sshd && chmod 755 /run/sshd
cat >"$dir/sshd_config" <<CFG
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile none
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PermitRootLogin yes
LogLevel ERROR
MaxStartups 1000
CFG
sport=$(free_port)
/usr/sbin/sshd -D -e -f "$dir/sshd_config" -p "$sport" 2>"$dir/sshd.log" &
spid=$!; pids+=("$spid")
wait_port "$wport"; wait_port "$sport"

common=(-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o BatchMode=yes
        -o IdentitiesOnly=yes -o LogLevel=ERROR -i "$dir/id_ed25519")
openssh_login() { ssh -F /dev/null "${common[@]}" -o "KexAlgorithms=$1" -p "$2" "$user@127.0.0.1" true; }
whelk_login() { "$WHELK" ssh -F none "${common[@]}" -o "KexAlgorithms=$1" -p "$2" "$user@127.0.0.1" true; }

# row CLIENT SERVER KEX PORT SERVER_PID
row() {
    local client=$1 server=$2 kex=$3 port=$4 spid=$5
    local login=openssh_login; [ "$client" = whelk ] && login=whelk_login
    $login "$kex" "$port" 2>>"$dir/client.log" # warm-up, and fail loudly if the login does not work
    local s0 t0 t1 s1 out
    s0=$(cpu_ticks "$spid")
    t0=$(date +%s.%N)
    out=$( { TIMEFORMAT='%3U %3S'; time (for _ in $(seq "$N"); do $login "$kex" "$port" 2>>"$dir/client.log"; done) ; } 2>&1 )
    t1=$(date +%s.%N)
    sleep 0.2 # let the server reap the last connection
    s1=$(cpu_ticks "$spid")
    awk -v c="$client" -v s="$server" -v k="$kex" -v n="$N" -v t0="$t0" -v t1="$t1" \
        -v cu="$out" -v s0="$s0" -v s1="$s1" -v tck="$TCK" 'BEGIN {
        split(cu, a, " "); wall = t1 - t0
        printf "| %-7s | %-12s | %-34s | %6.1f | %6.1f | %7.2f | %7.2f |\n", c, s, k, n / wall,
            1000 * wall / n, 1000 * (a[1] + a[2]) / n, 1000 * (s1 - s0) / tck / n }'
}

# Memory per idle authenticated connection: COUNT `ssh -N -f` clients (curve25519-sha256, no
# session) held open against each server; whelk server: VmRSS of its one process; sshd: the
# sum of Pss (and Rss) of the listener and every per-connection process under it.
tree_pids() { # the process and all its descendants
    local p=$1; echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
mem_kib() { # PID FIELD(Pss|Rss): sum over the process tree, KiB
    local sum=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk -v f="$2:" '$1 == f {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo $sum
}
client_pids() { # our ssh -N clients: the only processes naming this run's identity file
    grep -l -a -F -- "$dir/id_ed25519" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
}
if [ $MODE = memory ]; then
    counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(0 100 500)
    echo "| server | idle connections | Rss KiB | Pss KiB | processes |"
    echo "|---|---:|---:|---:|---:|"
    for server in whelk sshd; do
        port=$wport; pid=$wpid; [ $server = sshd ] && { port=$sport; pid=$spid; }
        have=0
        for count in "${counts[@]}"; do
            while [ $have -lt "$count" ]; do
                ssh -F /dev/null "${common[@]}" -o KexAlgorithms=curve25519-sha256 -N -f \
                    -p "$port" "$user@127.0.0.1" 2>>"$dir/client.log"
                have=$((have + 1))
            done
            sleep 2
            echo "| $server | $count | $(mem_kib "$pid" Rss) | $(mem_kib "$pid" Pss) | $(tree_pids "$pid" | wc -l) |"
        done
        for p in $(client_pids); do kill "$p" 2>/dev/null || true; done
        sleep 2
    done
    exit 0
fi

echo "N = $N sequential logins per row ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| client | server | kex | logins/s | ms/login | client CPU ms | server CPU ms |"
echo "|---|---|---|---:|---:|---:|---:|"
for kex in curve25519-sha256 sntrup761x25519-sha512@openssh.com mlkem768x25519-sha256; do
    for client in openssh whelk; do
        for server in whelk sshd; do
            if [ "$kex" = mlkem768x25519-sha256 ] && { [ $client = openssh ] || [ $server = sshd ]; }; then
                continue
            fi
            if [ $server = whelk ]; then row $client "whelk server" "$kex" "$wport" "$wpid"
            else row $client "sshd" "$kex" "$sport" "$spid"; fi
        done
    done
done
