#!/usr/bin/env bash
# Where the cycles go in one bulk transfer: perf record on the client and on the server (its
# threads and the per-session children), then samples grouped into crypto / kernel (TCP,
# pipes, epoll, syscall entry) / copies / scheduling / memory / other, plus `strace -c -f`
# syscall counts of the client.
#
#   bash benches/profile.sh                       # whelk -> whelk, aes128-gcm, 512 MiB, both ways
#   CLIENT=ssh DIRECTIONS=download bash benches/profile.sh   # OpenSSH client -> whelk server
#
# Needs perf (kernel.perf_event_paranoid <= 2 for your own processes) and strace.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-512}
CIPHER=${CIPHER:-aes128-gcm@openssh.com}
CLIENT=${CLIENT:-whelk}
DIRECTIONS=${DIRECTIONS:-"upload download"}
BYTES=$((SIZE_MB * 1024 * 1024))
if [ -z "${WHELK:-}" ]; then
    cargo build --release -q -p whelk-cli
    WHELK=$PWD/target/release/whelk
fi
command -v perf >/dev/null && command -v strace >/dev/null || { echo "needs perf and strace" >&2; exit 1; }

dir=$(mktemp -d)
cleanup() { [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
ssh-keygen -q -t ed25519 -N '' -f "$dir/host" -C host
ssh-keygen -q -t ed25519 -N '' -f "$dir/user" -C user
cp "$dir/user.pub" "$dir/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$WHELK" server --listen "127.0.0.1:$PORT" --host-key "$dir/host" \
    --authorized-keys "$dir/authorized_keys" >/dev/null 2>"$dir/server.log" &
SPID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done

bin=ssh
[ "$CLIENT" = whelk ] && bin="$WHELK ssh"
client="$bin -F /dev/null -p $PORT -i $dir/user -o IdentitiesOnly=yes -o BatchMode=yes \
-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -c $CIPHER root@127.0.0.1"

categorize() { # perf.data
    perf report -i "$1" --no-children --sort comm,sym --stdio -g none 2>/dev/null | python3 -c '
import collections, re, sys
own = ("whelk", "tokio", "ssh")
cats = collections.Counter()
for l in sys.stdin:
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", l)
    if not m:
        continue
    p, comm, kind, sym = float(m[1]), m[2], m[3], m[4].lower()
    if not comm.startswith(own):
        c = "child processes (cat, head, shell)"
    elif re.search(r"aes|polyval|ghash|chacha|poly1305|gcm|aead", sym):
        c = "crypto"
    elif re.search(r"memmove|memcpy|_copy_to_iter|_copy_from_iter|copy_user", sym):
        c = "copies"
    elif re.search(r"finish_task_switch|raw_spin_unlock_irq|__schedule|futex|try_to_wake|schedule|switch|rseq|park|condvar", sym):
        c = "scheduling, wake-ups"
    elif re.search(r"page_fault|clear_page|alloc_pages|alloc_frozen|get_page_from_freelist|charge|folio|free_frozen|unmap|anonymous_page|handle_mm|malloc|_int_free|madvise|mmap|zap", sym):
        c = "memory (allocation, page faults)"
    elif kind == "k":
        c = "kernel: TCP, pipes, epoll, syscalls"
    else:
        c = "other user code"
    cats[c] += p
for c, p in cats.most_common():
    print(f"  {c:40s} {p:5.1f} %")
'
}

for direction in $DIRECTIONS; do
    perf record -q -F 1999 -g -o "$dir/server.data" -p "$SPID" 2>/dev/null &
    ppid=$!
    sleep 0.5
    if [ "$direction" = upload ]; then
        head -c "$BYTES" /dev/zero | perf record -q -F 1999 -g -o "$dir/client.data" -- $client 'cat > /dev/null'
    else
        perf record -q -F 1999 -g -o "$dir/client.data" -- $client "head -c $BYTES /dev/zero" | wc -c >/dev/null
    fi
    kill -INT "$ppid"
    wait "$ppid" 2>/dev/null || true
    if [ "$direction" = upload ]; then
        head -c "$BYTES" /dev/zero | strace -c -f -o "$dir/strace" $client 'cat > /dev/null'
    else
        strace -c -f -o "$dir/strace" $client "head -c $BYTES /dev/zero" | wc -c >/dev/null
    fi
    echo "== $CLIENT -> whelk server, $CIPHER, $direction, $SIZE_MB MiB"
    echo "client ($CLIENT):"
    categorize "$dir/client.data"
    echo "server (whelk, with its children):"
    categorize "$dir/server.data"
    echo "client syscalls (strace -c -f):"
    head -9 "$dir/strace" | tail -7 | sed 's/^/  /'
done
