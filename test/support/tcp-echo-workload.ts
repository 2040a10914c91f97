/**
 * A workload holding an established TCP connection inside its own network
 * namespace, all busybox: an echo server (`nc -ll -e cat`, which keeps
 * listening) and, once it listens, a client loop that sends a tick every
 * 0.2 s over one connection and reconnects when it ends. Its progress line
 * (/state/progress) counts connections (`connections`, kept in the shell's
 * memory), echoes on the current connection, and carries `boot`, a random
 * number drawn once at start, and the shell's `pid`: the same boot after a
 * move means the same process, not a restart.
 */
export const TCP_ECHO_SCRIPT = `
/bin/busybox nc -ll -p 7000 -e /bin/cat &
until /bin/busybox netstat -ltn | grep -q ':7000 '; do sleep 0.1; done
boot=$RANDOM$RANDOM
n=0
while :; do
  n=$((n+1))
  (while :; do echo tick; sleep 0.2; done) | /bin/busybox nc 127.0.0.1 7000 | (
    e=0
    while read -r _; do
      e=$((e+1))
      echo "connections=$n echoes=$e boot=$boot pid=$$" > /state/progress.tmp
      mv /state/progress.tmp /state/progress
    done
  )
  sleep 0.2
done
`;

/** The container's command: the script under busybox's shell. */
export const TCP_ECHO_COMMAND = ['/bin/sh', '-c', TCP_ECHO_SCRIPT];
