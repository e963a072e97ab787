#!/usr/bin/env bash
# SFTP throughput on loopback: `whelk sftp` and OpenSSH's `sftp` against the same private sshd
# (internal-sftp, aes128-gcm@openssh.com only), get and put of one file of random data.
#
#   bash benches/sftp.sh                   # 1 GiB, 1 round
#   SIZE_MB=256 ROUNDS=3 bash benches/sftp.sh
#
# Each figure is 10^6 bytes per second of client wall time for one `-b` batch holding the one
# transfer (connection set-up included). The files are compared by SHA-256 after each run.
# Both clients use their defaults otherwise (whelk: 64 requests in flight, block sizes from
# limits@openssh.com; OpenSSH sftp: 64 requests, its own block-size rules). The machine's
# load shows in the figures: run ROUNDS>1 on a quiet machine for stable numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-1}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}

if [ -z "${WHELK:-}" ]; then
    cargo build --release -q -p whelk-cli
    WHELK=$PWD/target/release/whelk
fi
SSHD=/usr/sbin/sshd
command -v sftp >/dev/null && [ -x "$SSHD" ] || { echo "needs OpenSSH sftp and sshd" >&2; exit 1; }

dir=$(mktemp -d)
cleanup() {
    [ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

ssh-keygen -q -t ed25519 -N '' -f "$dir/host" -C host
ssh-keygen -q -t ed25519 -N '' -f "$dir/user" -C user
cp "$dir/user.pub" "$dir/authorized_keys"
mkdir -p /run/sshd && chmod 755 /run/sshd
PORT=$(free_port)
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
"$SSHD" -D -e -f "$dir/sshd_config" -p "$PORT" 2>"$dir/sshd.log" &
SSHD_PID=$!
wait_port "$PORT"
echo "[127.0.0.1]:$PORT $(cat "$dir/host.pub")" >"$dir/known_hosts"

mkdir -p "$dir/local" "$dir/remote"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$dir/local/src.bin"
SUM=$(sha256sum <"$dir/local/src.bin" | cut -d' ' -f1)
BYTES=$((SIZE_MB * 1024 * 1024))
USER_NAME=${USER:-root}
COMMON=(-P "$PORT" -i "$dir/user" -o "UserKnownHostsFile=$dir/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes)

run_client() { # client direction
    local client=$1 direction=$2 batch="$dir/batch"
    rm -f "$dir/remote/dst.bin" "$dir/local/dst.bin"
    if [ "$direction" = get ]; then
        cp "$dir/local/src.bin" "$dir/remote/src.bin"
        echo "get $dir/remote/src.bin $dir/local/dst.bin" >"$batch"
        out="$dir/local/dst.bin"
    else
        echo "put $dir/local/src.bin $dir/remote/dst.bin" >"$batch"
        out="$dir/remote/dst.bin"
    fi
    sync
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$client" = whelk ]; then
        "$WHELK" sftp -F none -q -c "$CIPHER" "${COMMON[@]}" -b "$batch" "$USER_NAME@127.0.0.1" >/dev/null
    else
        sftp -F /dev/null -q -c "$CIPHER" "${COMMON[@]}" -b "$batch" "$USER_NAME@127.0.0.1" >/dev/null
    fi
    t1=$(date +%s.%N)
    [ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$SUM" ] || { echo "$client $direction: checksum mismatch" >&2; exit 1; }
    rm -f "$dir/remote/src.bin"
    awk -v b="$BYTES" -v a="$t0" -v z="$t1" 'BEGIN { printf "%.1f", b / (z - a) / 1e6 }'
}

echo "SFTP $SIZE_MB MiB over loopback, $CIPHER, sshd internal-sftp, MB/s (10^6 B/s) per round"
printf '%-14s %-5s %s\n' client dir "MB/s"
for round in $(seq "$ROUNDS"); do
    for direction in get put; do
        for client in whelk openssh; do
            printf '%-14s %-5s %s\n' "$client" "$direction" "$(run_client "$client" "$direction")"
        done
    done
done
