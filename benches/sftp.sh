#!/usr/bin/env bash
# SFTP throughput on loopback, four client -> server pairs in the same run, interleaved:
#   whelk sftp -> whelk server (built-in sftp subsystem, whelk-tokio sftp::serve)
#   whelk sftp -> sshd (Subsystem sftp internal-sftp)
#   OpenSSH sftp -> whelk server
#   OpenSSH sftp -> sshd
# get and put of one file of random data, aes128-gcm@openssh.com only on both servers.
#
#   bash benches/sftp.sh                          # 1 GiB, 3 rounds
#   SIZE_MB=256 ROUNDS=1 bash benches/sftp.sh
#   PAIRS="whelk:whelk ssh:sshd" DIRECTIONS=get bash benches/sftp.sh
#
# Every transfer is one `-b` batch holding the one `get`/`put` (connection set-up included).
# Figures per transfer: MB/s (10^6 bytes per second of client wall time), CPU seconds per GiB
# of the client process (/usr/bin/time user+sys) and of the server (utime+stime+cutime+cstime
# of the listening process from /proc/PID/stat: its threads and the reaped per-connection
# children). Every transferred file is compared with the source by SHA-256 (the 1 GiB
# correctness check). Rows print the median over ROUNDS; the pair order rotates every round.
# Both clients use their defaults (whelk: 64 requests in flight, block size from
# limits@openssh.com or 32 KiB; OpenSSH sftp: 64 requests, 32 KiB, grows to the server limit).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
PAIRS=${PAIRS:-"whelk:whelk whelk:sshd ssh:whelk ssh:sshd"}
DIRECTIONS=${DIRECTIONS:-"get put"}
BYTES=$((SIZE_MB * 1024 * 1024))

if [ -z "${WHELK:-}" ]; then
    cargo build --release -q -p whelk-cli
    WHELK=$PWD/target/release/whelk
fi
SSHD=/usr/sbin/sshd
command -v sftp >/dev/null && [ -x "$SSHD" ] || { echo "needs OpenSSH sftp and sshd" >&2; exit 1; }

dir=$(mktemp -d)
cleanup() {
    for p in ${SSHD_PID:-} ${WHELK_PID:-}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

ssh-keygen -q -t ed25519 -N '' -f "$dir/host" -C host
ssh-keygen -q -t ed25519 -N '' -f "$dir/user" -C user
cp "$dir/user.pub" "$dir/authorized_keys"
mkdir -p /run/sshd && chmod 755 /run/sshd

SSHD_PORT=$(free_port)
cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $dir/host
PidFile none
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
UseDNS no
PermitRootLogin yes
Ciphers $CIPHER
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
"$SSHD" -D -e -f "$dir/sshd_config" -p "$SSHD_PORT" 2>"$dir/sshd.log" &
SSHD_PID=$!

WHELK_PORT=$(free_port)
"$WHELK" server --listen "127.0.0.1:$WHELK_PORT" --host-key "$dir/host" \
    --authorized-keys "$dir/authorized_keys" --sftp-root / -o "Ciphers=$CIPHER" \
    2>"$dir/whelk-server.log" &
WHELK_PID=$!
wait_port "$SSHD_PORT"
wait_port "$WHELK_PORT"
{
    echo "[127.0.0.1]:$SSHD_PORT $(cat "$dir/host.pub")"
    echo "[127.0.0.1]:$WHELK_PORT $(cat "$dir/host.pub")"
} >"$dir/known_hosts"

head -c "$BYTES" /dev/urandom >"$dir/src.bin"
SUM=$(sha256sum <"$dir/src.bin" | cut -d' ' -f1)
USER_NAME=$(id -un)

ticks=$(getconf CLK_TCK)
# utime+stime+cutime+cstime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# Waits until a server has reaped every per-connection child.
wait_reaped() {
    for _ in $(seq 200); do
        [ -z "$(cat /proc/"$1"/task/*/children 2>/dev/null | tr -d ' \n')" ] && return 0
        sleep 0.05
    done
}

results=$dir/results
: >"$results"
echo "# $(date -u +%FT%TZ) size=${SIZE_MB}MiB rounds=$ROUNDS $CIPHER ($(ssh -V 2>&1), whelk $("$WHELK" --version 2>/dev/null | awk '{print $2}')), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
pairs=($PAIRS)
n=${#pairs[@]}
for round in $(seq "$ROUNDS"); do
    for direction in $DIRECTIONS; do
        for i in $(seq 0 $((n - 1))); do
            pair=${pairs[$(((i + round) % n))]}
            client=${pair%%:*}
            server=${pair##*:}
            port=$SSHD_PORT spid=$SSHD_PID
            [ "$server" = whelk ] && port=$WHELK_PORT spid=$WHELK_PID
            if [ "$direction" = get ]; then
                echo "get $dir/src.bin $dir/dst.bin" >"$dir/batch"
            else
                echo "put $dir/src.bin $dir/dst.bin" >"$dir/batch"
            fi
            rm -f "$dir/dst.bin"
            common=(-F none -q -c "$CIPHER" -P "$port" -i "$dir/user" -o IdentitiesOnly=yes
                -o "UserKnownHostsFile=$dir/known_hosts" -o StrictHostKeyChecking=yes
                -o BatchMode=yes -b "$dir/batch" "$USER_NAME@127.0.0.1")
            if [ "$client" = whelk ]; then
                cmd=("$WHELK" sftp "${common[@]}")
            else
                common[1]=/dev/null
                cmd=(sftp "${common[@]}")
            fi
            before=$(cpu_ticks "$spid")
            /usr/bin/time -f '%e %U %S' -o "$dir/time" "${cmd[@]}" >/dev/null
            wait_reaped "$spid"
            after=$(cpu_ticks "$spid")
            got=$(sha256sum <"$dir/dst.bin" | cut -d' ' -f1)
            [ "$got" = "$SUM" ] || { echo "$pair $direction: SHA-256 mismatch" >&2; exit 1; }
            rm -f "$dir/dst.bin"
            read -r wall cuser csys <"$dir/time"
            echo "$client $server $direction $wall $cuser $csys $((after - before)) $ticks $BYTES" >>"$results"
            printf '%s\n' "round $round: $client -> $server $direction ${wall}s (SHA-256 ok)" >&2
        done
    done
done
echo "# done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    c, s, d, wall, cu, cs, sticks, hz, n = line.split()
    wall, cu, cs, sticks, hz, n = map(float, (wall, cu, cs, sticks, hz, n))
    gib = n / 2**30
    rows.setdefault((d, c, s), []).append((n / wall / 1e6, (cu + cs) / gib, sticks / hz / gib))
base = {}
for (d, c, s), v in rows.items():
    if (c, s) == ("ssh", "sshd"):
        base[d] = statistics.median(x[0] for x in v)
print("| direction | client -> server | MB/s | x sftp->sshd | client CPU-s/GiB | server CPU-s/GiB |")
print("|---|---|---|---|---|---|")
order = {"whelk:whelk": 0, "whelk:sshd": 1, "ssh:whelk": 2, "ssh:sshd": 3}
for key in sorted(rows, key=lambda k: (k[0] != "get", order.get(f"{k[1]}:{k[2]}", 9))):
    d, c, s = key
    v = rows[key]
    mbs = statistics.median(x[0] for x in v)
    ratio = mbs / base[d] if d in base else float("nan")
    name = {"ssh": "OpenSSH sftp", "whelk": "whelk sftp"}[c] + " -> " + {"sshd": "sshd", "whelk": "whelk server"}[s]
    print(f"| {d} | {name} | {mbs:.0f} | {ratio:.2f} | "
          f"{statistics.median(x[1] for x in v):.2f} | {statistics.median(x[2] for x in v):.2f} |")
EOF
