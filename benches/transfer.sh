#!/usr/bin/env bash
# Bulk transfer over one SSH channel on loopback: whelk <-> whelk, whelk client <-> sshd,
# OpenSSH ssh <-> whelk server and ssh <-> sshd, measured in the same run, interleaved.
#
#   bash benches/transfer.sh                  # 1 GiB, 3 rounds, aes128-gcm aes256-gcm chacha20
#   SIZE_MB=256 ROUNDS=1 CIPHERS=aes128-gcm@openssh.com bash benches/transfer.sh
#   # A cipher with a MAC (for non-AEAD ciphers), joined by `+`:
#   CIPHERS="aes128-ctr+umac-64-etm@openssh.com aes128-ctr+hmac-sha2-256-etm@openssh.com" bash benches/transfer.sh
#   # A/B: another whelk build as pair base:base (its client -> its server), same run:
#   WHELK_BASE=/tmp/whelk-old PAIRS="whelk:whelk base:base ssh:whelk ssh:sshd" bash benches/transfer.sh
#
# Every transfer is one `ssh`-style command run through the server's shell, the same work
# for both servers: upload = `head -c N /dev/zero | CLIENT host 'cat > /dev/null; times >&2'`,
# download = `CLIENT host 'head -c N /dev/zero; times >&2' > /dev/null`.
# Figures per transfer: MB/s (10^6 bytes per second of client wall time, connection set-up
# included), CPU seconds per GiB of the client process (/usr/bin/time user+sys), of the
# server's SSH side and of the remote command. The server total is utime+stime+cutime+cstime
# of the listening process from /proc/PID/stat (its threads and the reaped per-connection
# children: sshd's per-connection processes, the shell and `cat`/`head`); the remote command
# is what the shell's `times` reports at its end (the shell itself, start-up files included,
# and its children), and the SSH side is the total minus that.
# Rows print the median over ROUNDS; the order of the four pairs rotates every round.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
CIPHERS=${CIPHERS:-"aes128-gcm@openssh.com aes256-gcm@openssh.com chacha20-poly1305@openssh.com"}
PAIRS=${PAIRS:-"whelk:whelk whelk:sshd ssh:whelk ssh:sshd"}
DIRECTIONS=${DIRECTIONS:-"upload download"}
BYTES=$((SIZE_MB * 1024 * 1024))

if [ -z "${WHELK:-}" ] && [[ "$PAIRS" == *whelk* ]]; then
    cargo build --release -q -p whelk-cli
    WHELK=$PWD/target/release/whelk
fi
WHELK=${WHELK:-whelk}
SSHD=/usr/sbin/sshd
command -v ssh >/dev/null && [ -x "$SSHD" ] || { echo "needs OpenSSH ssh and sshd" >&2; exit 1; }

dir=$(mktemp -d)
cleanup() {
    for p in ${SSHD_PID:-} ${WHELK_PID:-} ${BASE_PID:-}; do kill "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

ssh-keygen -q -t ed25519 -N '' -f "$dir/host" -C host
ssh-keygen -q -t ed25519 -N '' -f "$dir/user" -C user
cp "$dir/user.pub" "$dir/authorized_keys"
mkdir -p /run/sshd && chmod 755 /run/sshd

# Every cipher and MAC named in CIPHERS, on both servers.
SERVER_CIPHERS=$(for c in $CIPHERS; do echo "${c%%+*}"; done | sort -u | paste -sd,)
SERVER_MACS=$( (echo hmac-sha2-256-etm@openssh.com; for c in $CIPHERS; do
    if [[ $c == *+* ]]; then echo "${c#*+}"; fi; done) | sort -u | paste -sd,)

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
Ciphers $SERVER_CIPHERS
MACs $SERVER_MACS
LogLevel ERROR
EOF
"$SSHD" -D -e -f "$dir/sshd_config" -p "$SSHD_PORT" 2>"$dir/sshd.log" &
SSHD_PID=$!

WHELK_PORT=$(free_port)
WHELK_PID=$SSHD_PID
BASE_PORT=$(free_port)
BASE_PID=$SSHD_PID
if [[ " $PAIRS" == *":base"* ]]; then
"${WHELK_BASE:?PAIRS names base: set WHELK_BASE to the other whelk binary}" server \
    --listen "127.0.0.1:$BASE_PORT" --host-key "$dir/host" \
    -o "Ciphers=$SERVER_CIPHERS" -o "MACs=$SERVER_MACS" \
    --authorized-keys "$dir/authorized_keys" 2>"$dir/base-server.log" &
BASE_PID=$!
wait_port "$BASE_PORT"
fi
if [[ " $PAIRS" == *":whelk"* ]]; then
"$WHELK" server --listen "127.0.0.1:$WHELK_PORT" --host-key "$dir/host" \
    -o "Ciphers=$SERVER_CIPHERS" -o "MACs=$SERVER_MACS" \
    --authorized-keys "$dir/authorized_keys" 2>"$dir/whelk-server.log" &
WHELK_PID=$!
wait_port "$WHELK_PORT"
fi
wait_port "$SSHD_PORT"

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

# CPU seconds of the remote shell and its children: the sum of the two lines `times` printed
# ("0m0.012s 0m0.004s" for the shell, then its children).
remote_seconds() {
    python3 - "$1" <<'PY'
import re, sys
t = re.findall(r"^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$", open(sys.argv[1]).read(), re.M)
if len(t) < 2:
    sys.exit("no `times` output from the remote shell: " + open(sys.argv[1]).read()[-500:])
print(sum(60 * float(m) + float(s) for line in t[-2:] for m, s in (line[0:2], line[2:4])))
PY
}

client_cmd() { # client server cipher[+mac]
    local port user=root spec="-c ${3%%+*}"
    if [[ $3 == *+* ]]; then spec="$spec -m ${3#*+}"; fi
    case $2 in sshd) port=$SSHD_PORT ;; whelk) port=$WHELK_PORT ;; base) port=$BASE_PORT ;; esac
    local bin=ssh
    [ "$1" = whelk ] && bin="$WHELK ssh"
    [ "$1" = base ] && bin="$WHELK_BASE ssh"
    echo "$bin -F /dev/null -p $port -i $dir/user -o IdentitiesOnly=yes -o BatchMode=yes \
-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR $spec $user@127.0.0.1"
}

results=$dir/results
: >"$results"
echo "# $(date -u +%FT%TZ) size=${SIZE_MB}MiB rounds=$ROUNDS ($(ssh -V 2>&1), whelk $("$WHELK" --version 2>/dev/null | awk '{print $2}'))" >&2
pairs=($PAIRS)
for round in $(seq "$ROUNDS"); do
    n=${#pairs[@]}
    for cipher in $CIPHERS; do
        for direction in $DIRECTIONS; do
            for i in $(seq 0 $((n - 1))); do
                pair=${pairs[$(((i + round) % n))]}
                client=${pair%%:*}
                server=${pair##*:}
                spid=$SSHD_PID
                [ "$server" = whelk ] && spid=$WHELK_PID
                [ "$server" = base ] && spid=$BASE_PID
                cmd=$(client_cmd "$client" "$server" "$cipher")
                before=$(cpu_ticks "$spid")
                if [ "$direction" = upload ]; then
                    head -c "$BYTES" /dev/zero |
                        /usr/bin/time -f '%e %U %S' -o "$dir/time" $cmd 'cat > /dev/null; times >&2' \
                            2>"$dir/stderr"
                else
                    /usr/bin/time -f '%e %U %S' -o "$dir/time" $cmd "head -c $BYTES /dev/zero; times >&2" \
                        2>"$dir/stderr" | wc -c >"$dir/got"
                    got=$(cat "$dir/got")
                    [ "$got" = "$BYTES" ] || { echo "$pair $cipher download: got $got of $BYTES bytes" >&2; exit 1; }
                fi
                wait_reaped "$spid"
                after=$(cpu_ticks "$spid")
                read -r wall cuser csys <"$dir/time"
                remote=$(remote_seconds "$dir/stderr")
                echo "$client $server $cipher $direction $wall $cuser $csys $(((after - before))) $ticks $BYTES $remote" >>"$results"
                printf '%s\n' "round $round: $client -> $server $cipher $direction ${wall}s" >&2
            done
        done
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    c, s, cipher, d, wall, cu, cs, sticks, hz, n, remote = line.split()
    wall, cu, cs, sticks, hz, n, remote = map(float, (wall, cu, cs, sticks, hz, n, remote))
    gib = n / 2**30
    rows.setdefault((cipher, d, c, s), []).append(
        (n / wall / 1e6, (cu + cs) / gib, (sticks / hz - remote) / gib, remote / gib))
base = {}
for (cipher, d, c, s), v in rows.items():
    if (c, s) == ("ssh", "sshd"):
        base[(cipher, d)] = statistics.median(x[0] for x in v)
print("| cipher | direction | client -> server | MB/s | x ssh->sshd | client CPU-s/GiB "
      "| server CPU-s/GiB (SSH side) | remote command CPU-s/GiB |")
print("|---|---|---|---|---|---|---|---|")
order = {"whelk:whelk": 0, "base:base": 0.5, "whelk:sshd": 1, "ssh:whelk": 2, "ssh:base": 2.5, "ssh:sshd": 3}
for key in sorted(rows, key=lambda k: (k[0], k[1] != "upload", order.get(f"{k[2]}:{k[3]}", 9))):
    cipher, d, c, s = key
    v = rows[key]
    mbs = statistics.median(x[0] for x in v)
    ratio = mbs / base[(cipher, d)] if (cipher, d) in base else float("nan")
    print(f"| {'+'.join(p.split('@')[0] for p in cipher.split('+'))} | {d} | {c} -> {s} | {mbs:.0f} | {ratio:.2f} | "
          f"{statistics.median(x[1] for x in v):.2f} | {statistics.median(x[2] for x in v):.2f} | "
          f"{statistics.median(x[3] for x in v):.2f} |")
EOF
