# Starting the stack's long-running processes and knowing whether they still
# run. Sourced, never run; needs RUN_DIR, LOG_DIR, log and die (common.sh).
#
# A process is identified by its pid plus its start time (field 22 of
# /proc/<pid>/stat), recorded when it is started. The start time survives
# exec, so a service that execs through wrappers (setsid, nohup, a shell
# script) is still recognised while its binary is loading; the command line is
# not: during an exec it changes, and while a cold 100 MB binary is being
# paged in the kernel can even show it empty. Matching on the command line is
# what made a running kube-apiserver look "exited during start-up" on every
# first run. The start time also makes a stale pid file harmless: a reused pid
# has another start time, so nobody else's process is ever signalled.

# Field 22 (start time, in clock ticks since boot) of /proc/<pid>/stat, and
# field 3 (state). The command name in field 2 may contain spaces and
# parentheses, so fields are counted from the last ')'.
proc_stat_field() { # pid field-number
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # After "comm)" the state is field 3: index 0 in what is left.
  local fields
  read -r -a fields <<<"$stat"
  echo "${fields[$(($2 - 3))]}"
}

# The pid of a service this stack started and that still runs (not a zombie).
service_pid() { # name
  local f="$RUN_DIR/$1.pid" pid started state
  [ -f "$f" ] || return 1
  read -r pid started <"$f" || return 1
  [ -n "${pid:-}" ] && [ -n "${started:-}" ] || return 1
  state=$(proc_stat_field "$pid" 3) || return 1
  [ "$state" != Z ] && [ "$state" != X ] || return 1
  [ "$(proc_stat_field "$pid" 22)" = "$started" ] || return 1
  echo "$pid"
}

# Starts a service in its own session, its output appended to its log, with
# no descriptor of the caller's but stdin, stdout and stderr. The
# pid file is written before this returns, with the start time of the very
# process that was forked, so a check right after start cannot miss it.
start_service() { # name command args...
  local name=$1; shift
  if service_pid "$name" >/dev/null; then return 0; fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  (
    # Descriptors the caller holds must not live on in a service: a lock
    # taken with `flock <file> infra/stack up` would otherwise be held by
    # every service until the stack stops.
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@"
  ) >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  local pid=$! started
  started=$(proc_stat_field "$pid" 22) || started=gone
  echo "$pid $started" >"$RUN_DIR/$name.pid"
}

# Waits until `check` succeeds; fails at once if the service has exited, and
# after `tries` half-seconds if it never became ready.
wait_for() { # name check [tries]
  local name=$1 check=$2 tries=${3:-120} i
  for ((i = 0; i < tries; i++)); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    service_pid "$name" >/dev/null || {
      tail -n 30 "$LOG_DIR/$name.log" >&2
      die "$name exited during start-up; log in ${LOG_DIR#"$REPO_ROOT"/}/$name.log"
    }
    sleep 0.5
  done
  tail -n 30 "$LOG_DIR/$name.log" >&2
  die "$name did not become ready in $((tries / 2)) s; log in ${LOG_DIR#"$REPO_ROOT"/}/$name.log"
}

# Stops a service started by start_service: TERM to its session, KILL after 10 s.
stop_service() { # name
  local name=$1 pid
  if pid=$(service_pid "$name"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do service_pid "$name" >/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "stopped $name"
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.cmd"
}
