# shellcheck shell=bash
#
# stack.sh: a private aspida stack in one directory. PostgreSQL 15, Redis, the aspida workers (run one of
# three ways) and lighttpd in front, all on 127.0.0.1, on ports of their own, sharing nothing with the
# system's services. Sourced by ./quickstart and by the integration tests' fixtures; usable by hand:
#
#   source tests/stack/stack.sh
#   stack_init DIR      settings from the environment (below); saved in DIR/stack.vars, env in DIR/env
#   stack_start         PostgreSQL (+ schema, demo data), Redis, workers, lighttpd; waits for /healthz
#   stack_status        one line per piece; returns 1 when a piece is down
#   stack_stop          everything, then checks that nothing of the stack is left running
#
# Pieces, for tests: pg_start pg_stop pg_freeze pg_thaw redis_start redis_stop workers_start workers_stop
# workers_restart lighttpd_start lighttpd_stop apache_start apache_stop stack_conf_set stack_heal
# stack_is_running stack_sanitizer_reports stack_logs.
# A shell that sources this file with ASPIDA_STACK=DIR set gets that stack's saved settings back, so
#   ASPIDA_STACK=DIR bash -c 'source tests/stack/stack.sh; pg_freeze'
# acts on the running stack. `bash tests/stack/stack.sh FUNCTION ARGS` does the same in one step.
#
# Settings (environment, read by stack_init):
#   ASPIDA_PROFILE     test (default) or quickstart: default ports and aspida.conf values
#   ASPIDA_MODE        spawn (default): spawn-fcgi + multiwatch on a shared socket;
#                      master: aspida's own pre-fork master (-l -w); binpath: lighttpd's bin-path + max-procs;
#                      apache: Apache 2.4 in lighttpd's place, its mod_fcgid spawning the workers
#   ASPIDA_HTTP_PORT, ASPIDA_PG_PORT, ASPIDA_REDIS_PORT
#                      test: 18080, 15432, 16379; quickstart: 8080, 55432, 56379
#   ASPIDA_WORKERS     worker processes (4)
#   ASPIDA_BIN_DIR     the built aspida and aspidactl (REPO/build/src)
#   ASPIDA_WORKER_BIN  the program the spawners run (ASPIDA_BIN_DIR/aspida; the sanitizer canary uses it)
#   ASPIDA_SQL_DIR     migrations and demo_data.sql (REPO/sql)
#   ASPIDA_DEMO_DATA   1 (default): load demo_data.sql once, after the migrations
#   ASPIDA_CONF_<KEY>  one aspida.conf key, e.g. ASPIDA_CONF_REDIS_FAILURE=open; set but empty = left out
#   ASPIDA_CONF_EXTRA  more aspida.conf lines, appended as they are
#
# Run as root, every server runs as the system user `aspida` (created when missing), because PostgreSQL
# and aspida refuse root; run as anyone else, everything runs as that user. All files live in the stack
# directory and belong to that user: binaries, sql/ and configurations are copied in, so a repository
# under /root works too. The functions report errors on stderr and return non-zero; they work with or
# without `set -e` in the caller.

_stack_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_stack_pgbin=/usr/lib/postgresql/15/bin
_stack_path=PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Paths a stack's sockets get appended to must stay well under the 107-byte sun_path limit.
_stack_max_dir_len=80

_stack_err() {
	printf 'stack: %s\n' "$*" >&2
	return 1
}

_stack_note() {
	printf 'stack: %s\n' "$*" >&2
}

# Single-quotes a value for a KEY=VALUE line when it needs it; both bash `source` and Python's shlex
# read the result back.
_stack_quote() {
	local plain='^[A-Za-z0-9_./:=@,+-]*$'
	if [[ $1 =~ $plain ]]; then
		printf '%s' "$1"
	else
		printf "'%s'" "${1//\'/\'\\\'\'}"
	fi
}

# Polls a command every 0.1 s for at most $1 seconds.
_stack_wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# True while the process runs; a zombie counts as gone (it is our own child that bash has not reaped).
_stack_alive() {
	local state
	[[ -n ${1:-} && -r /proc/$1/stat ]] || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

_stack_not_alive() {
	! _stack_alive "$1"
}

# Prints the pid from a pid file when that process is alive and its command line matches the pattern;
# the check keeps a stale pid file from naming an unrelated process that reused the pid.
_stack_pidfile_pid() {
	local file=$1 pattern=$2 pid
	[[ -r $file ]] || return 1
	read -r pid <"$file" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	_stack_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
	printf '%s\n' "$pid"
}

# Sends TERM and waits up to $2 seconds, then KILL. Returns 1 when KILL was needed.
_stack_terminate() {
	local pid=$1 secs=$2 what=$3
	_stack_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	_stack_wait_for "$secs" _stack_not_alive "$pid" && return 0
	_stack_note "$what (pid $pid) ignored SIGTERM for ${secs}s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	_stack_wait_for 5 _stack_not_alive "$pid" || true
	return 1
}

_stack_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_stack_port_free() {
	if _stack_port_busy "$1"; then
		_stack_err "port $1 on 127.0.0.1 is already in use ($2); choose another one"
		return 1
	fi
}

# The user every server runs as: `aspida` for root (created when missing), else the caller.
_stack_resolve_user() {
	if ((EUID == 0)); then
		if ! getent passwd aspida >/dev/null; then
			useradd --system --user-group --home-dir /nonexistent --no-create-home \
			    --shell /usr/sbin/nologin aspida ||
				{ _stack_err "cannot create the system user aspida"; return 1; }
		fi
		STACK_RUN_USER=aspida
	else
		STACK_RUN_USER=$(id -un)
	fi
	STACK_RUN_GROUP=$(id -gn "$STACK_RUN_USER")
	_stack_user_argv
}

# STACK_AS_USER: the prefix that runs a command as the run user. setpriv execs in place (no PAM session,
# no lingering parent), so a pid taken from `$!` is the server's own.
_stack_user_argv() {
	STACK_AS_USER=()
	if ((EUID == 0)); then
		STACK_AS_USER=(setpriv "--reuid=$STACK_RUN_USER" "--regid=$STACK_RUN_GROUP" --init-groups --)
	fi
}

# Runs a command as the run user, in the stack directory (its cwd may be unreachable otherwise, e.g. a
# repository under /root, and initdb and pg_ctl complain about that).
_stack_as() {
	(cd "${STACK_DIR:-/}" && exec "${STACK_AS_USER[@]}" env HOME="${STACK_DIR:-/}" "$@")
}

# True when DIR would do for a stack: short enough for its sockets' paths, and its parent can be
# entered by the run user (a repository under /root cannot, when the run user is aspida).
stack_reachable() {
	local dir=$1
	(( ${#dir} <= _stack_max_dir_len )) || return 1
	_stack_resolve_user || return 1
	(cd / && "${STACK_AS_USER[@]}" test -x "$(dirname "$dir")")
}

# Writes stdin to a file of the stack with the given mode, owned by the run user.
_stack_write() {
	local mode=$1 file=$2
	cat >"$file.tmp" || return 1
	chmod "$mode" "$file.tmp" || return 1
	if ((EUID == 0)); then
		chown "$STACK_RUN_USER:$STACK_RUN_GROUP" "$file.tmp" || return 1
	fi
	mv -f "$file.tmp" "$file"
}

# The environment given to every aspida process (and the canary): the sanitizers write their reports
# to files in STACK/san, since a worker's stderr is often /dev/null (spawn-fcgi) or dropped (env -i).
# GCOV_PREFIX keeps a coverage build's .gcda files inside the stack, where the run user may write.
_stack_aspida_env() {
	STACK_ENV=(
		"$_stack_path"
		"ASPIDA_CONFIG=$STACK_DIR/conf/aspida.conf"
		"ASAN_OPTIONS=log_path=$STACK_DIR/san/asan:abort_on_error=0:halt_on_error=1:detect_leaks=1"
		"UBSAN_OPTIONS=log_path=$STACK_DIR/san/ubsan:abort_on_error=0:halt_on_error=1:print_stacktrace=1"
		"GCOV_PREFIX=$STACK_DIR/gcov"
	)
	if [[ -f $STACK_DIR/conf/lsan.supp ]]; then
		STACK_ENV+=("LSAN_OPTIONS=suppressions=$STACK_DIR/conf/lsan.supp:print_suppressions=0")
	fi
}

# Loads a stack's saved settings; every public function starts with it.
_stack_load() {
	local dir=${ASPIDA_STACK:-${STACK_DIR:-}}
	[[ -n $dir ]] || { _stack_err "no stack: call stack_init DIR or set ASPIDA_STACK"; return 1; }
	[[ -f $dir/stack.vars ]] || { _stack_err "$dir is not a stack (no stack.vars)"; return 1; }
	# shellcheck source=/dev/null
	source "$dir/stack.vars" || return 1
	_stack_user_argv
	_stack_aspida_env
}

# A conf key's value: ASPIDA_CONF_<KEY> when set (even empty), else the profile's default.
_stack_conf_value() {
	local var="ASPIDA_CONF_${1^^}"
	if [[ -n ${!var+set} ]]; then
		printf '%s' "${!var}"
	else
		printf '%s' "$2"
	fi
}

_stack_write_aspida_conf() {
	local s=$STACK_DIR key def val maxreq
	local -a keys
	# lighttpd's bin-path gives each worker its own socket, so a worker retiring itself after N
	# requests would drop what is queued on it (LIBRARIES.md §9): only shared-socket modes recycle.
	# mod_fcgid (mode apache) retires its processes itself, after as many (_stack_write_apache_conf).
	if [[ $STACK_PROFILE == test ]]; then maxreq=500; else maxreq=10000; fi
	[[ $STACK_MODE == binpath || $STACK_MODE == apache ]] && maxreq=0
	keys=(
		"db_conninfo|host=$s/run port=$STACK_PG_PORT dbname=aspida user=aspida_app"
		"db_owner_conninfo|host=$s/run port=$STACK_PG_PORT dbname=aspida user=aspida_owner"
		"redis_host|127.0.0.1"
		"redis_port|$STACK_REDIS_PORT"
		"log_file|$s/log/aspida.log"
		"cursor_secret_file|$s/secrets/cursor_secret"
		"jwt_key_file|$s/secrets/jwt_key"
		"password_pepper_file|$s/secrets/password_pepper"
		"csrf_secret_file|$s/secrets/csrf_secret"
		"workers|$STACK_WORKERS"
		"max_requests_per_worker|$maxreq"
		"admin_allow_ips|127.0.0.1/32, ::1/128"
		"metrics_allow_ips|127.0.0.1/32, ::1/128"
		"trusted_proxies|"
		"redis_failure|closed"
	)
	if [[ $STACK_PROFILE == test ]]; then
		# Short deadlines so the failure tests (PostgreSQL stopped or frozen) finish quickly.
		keys+=(
			"cors_origins|https://app.aspida.test"
			# bcrypt at cost 4 keeps the suite fast; one unit test keeps cost 12 honest.
			"bcrypt_cost|4"
			# High limits: the tests of the limits themselves lower them (stack_conf_set).
			"rate_auth_per_minute|100000" "rate_auth_burst|100000"
			"rate_predict_per_minute|100000" "rate_predict_burst|100000"
			"rate_portfolio_per_minute|100000" "rate_portfolio_burst|100000"
			"rate_prices_per_minute|100000" "rate_prices_burst|100000"
			"rate_default_per_minute|100000" "rate_default_burst|100000"
			"rate_preauth_per_minute|100000" "rate_preauth_burst|100000"
			"autoblock_violations_per_hour|1000000"
			"autoblock_failed_credentials_per_hour|1000000"
			"login_max_inflight|8"
			"quota_daily_bytes|1000000000000" "quota_anonymous_daily_bytes|1000000000000"
			# Flood rows reach security_events within a second of their minute's end.
			"event_flush_seconds|1"
			"db_query_timeout_ms|1000"
			"db_connect_timeout_ms|1000"
			"db_retry_max_ms|1000"
			"redis_timeout_ms|500"
		)
	else
		keys+=(
			"cors_origins|http://localhost:$STACK_HTTP_PORT"
			"db_query_timeout_ms|3000"
			"db_connect_timeout_ms|2000"
			"db_retry_max_ms|10000"
			"redis_timeout_ms|500"
		)
	fi
	{
		printf '# aspida.conf for the %s stack in %s, written by tests/stack/stack.sh.\n' \
		    "$STACK_PROFILE" "$s"
		for key in "${keys[@]}"; do
			def=${key#*|}
			key=${key%%|*}
			val=$(_stack_conf_value "$key" "$def")
			if [[ -n $val ]]; then
				printf '%s = %s\n' "$key" "$val"
			fi
		done
		# The demo price feed (POST /api/v1/ingest/prices), allowed from loopback only; its name and
		# secret are in the env file.
		printf 'source demo { secret_file = %s; allowed_ips = 127.0.0.1/32, ::1/128 }\n' \
		    "$s/secrets/source_demo"
		if [[ -n ${ASPIDA_CONF_EXTRA:-} ]]; then
			printf '%s\n' "$ASPIDA_CONF_EXTRA"
		fi
	} | _stack_write 0640 "$s/conf/aspida.conf"
}

# Replaces (or, with an empty value, removes) one key of aspida.conf; workers_restart applies it.
stack_conf_set() {
	_stack_load || return 1
	local key=$1 val=${2:-} conf=$STACK_DIR/conf/aspida.conf
	[[ $key =~ ^[a-z0-9_]+$ ]] || { _stack_err "bad key: $key"; return 1; }
	# _stack_write replaces the file only once grep has read all of it.
	{
		grep -v -E "^[[:space:]]*${key}[[:space:]]*=" "$conf"
		[[ -z $val ]] || printf '%s = %s\n' "$key" "$val"
	} | _stack_write 0640 "$conf"
}

_stack_write_redis_conf() {
	local s=$STACK_DIR
	_stack_write 0640 "$s/conf/redis.conf" <<EOF
# Redis for the stack in $s, written by tests/stack/stack.sh: loopback only, no other interface.
bind 127.0.0.1
port $STACK_REDIS_PORT
protected-mode yes
unixsocket ""
daemonize yes
supervised no
pidfile $s/run/redis.pid
logfile $s/log/redis.log
loglevel notice
dir $s/redis
appendonly yes
appendfsync everysec
save ""
always-show-logo no
EOF
}

_stack_write_pg_conf() {
	local s=$STACK_DIR
	{
		cat <<EOF
# PostgreSQL settings for the stack in $s, written by tests/stack/stack.sh.
listen_addresses = '127.0.0.1'
port = $STACK_PG_PORT
unix_socket_directories = '$s/run'
unix_socket_permissions = 0700
password_encryption = scram-sha-256
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
		# A test stack is thrown away: speed over durability.
		if [[ $STACK_PROFILE == test ]]; then
			printf '%s\n' "fsync = off" "synchronous_commit = off" "full_page_writes = off"
		fi
	} | _stack_write 0640 "$s/conf/postgresql.conf" || return 1

	# Peer authentication on the socket: the run user may connect as the superuser (bootstrap), the
	# owner (migrations, tests) and the runtime role (aspida). TCP is refused except scram for the owner
	# from 127.0.0.1, which the benchmarks' peer service needs.
	_stack_write 0600 "$s/pg/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER          ADDRESS       METHOD
local   all       all                         peer map=stack
host    aspida    aspida_owner  127.0.0.1/32  scram-sha-256
host    all       all           0.0.0.0/0     reject
host    all       all           ::/0          reject
EOF
	_stack_write 0600 "$s/pg/pg_ident.conf" <<EOF
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
stack      $STACK_RUN_USER  postgres
stack      $STACK_RUN_USER  aspida_owner
stack      $STACK_RUN_USER  aspida_app
EOF
}

_stack_write_lighttpd_conf() {
	local s=$STACK_DIR backend env="" kv
	if [[ $STACK_MODE == binpath ]]; then
		# lighttpd itself runs with a clean environment (lighttpd_start), and with bin-copy-environment
		# set it passes its workers only PATH and bin-environment.
		for kv in "${STACK_ENV[@]}"; do
			[[ $kv == PATH=* ]] || env+=$(printf '\t\t\t"%s" => "%s",' "${kv%%=*}" "${kv#*=}")$'\n'
		done
		backend=$(cat <<EOF
		"bin-path"    => "$STACK_WORKER -f $s/conf/aspida.conf",
		"socket"      => "$s/run/aspida-bp.sock",
		"max-procs"   => $STACK_WORKERS,
		"check-local" => "disable",
		"bin-environment" => (
$env		),
		"bin-copy-environment" => ( "PATH" ),
EOF
)
	else
		backend=$(cat <<EOF
		"socket"      => "$s/run/aspida.sock",
		"check-local" => "disable",
EOF
)
	fi
	_stack_write 0640 "$s/conf/lighttpd.conf" <<EOF
# lighttpd for the stack in $s (mode $STACK_MODE), written by tests/stack/stack.sh.
# Never mod_extforward: only aspida reads X-Forwarded-For, and only from trusted_proxies.
server.modules = ( "mod_access", "mod_setenv", "mod_fastcgi", "mod_accesslog" )
server.bind          = "127.0.0.1"
server.port          = $STACK_HTTP_PORT
server.tag           = ""
server.document-root = "$s/www"
server.pid-file      = "$s/run/lighttpd.pid"
server.errorlog      = "$s/log/lighttpd-error.log"
accesslog.filename   = "$s/log/lighttpd-access.log"
server.upload-dirs   = ( "$s/tmp" )
# KiB: twice the larger of max_body_bytes (64 KiB) and ingest_max_body_bytes (256 KiB), so aspida's own
# JSON 413 answers first.
server.max-request-size = 512

# Only these paths go to aspida. One conditional with one backend (rather than one fastcgi.server entry
# per prefix) so that bin-path mode spawns one set of workers, not one per prefix.
\$HTTP["url"] =~ "^/(api/|healthz\$|readyz\$|metrics\$)" {
	fastcgi.server = ( "/" => ((
$backend
	)) )
}
else {
	# The security headers of API.md on the replies lighttpd makes itself (404, 403, ...). aspida's
	# routes are left alone so that a header aspida forgets is not hidden by lighttpd setting it.
	setenv.set-response-header = (
		"X-Content-Type-Options"  => "nosniff",
		"X-Frame-Options"         => "DENY",
		"Content-Security-Policy" => "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy"         => "no-referrer",
		"Cache-Control"           => "no-store",
		"X-XSS-Protection"        => "0",
	)
}
EOF
}

# Apache in lighttpd's place (mode apache): the same routes, limits and headers as lighttpd's configuration,
# with mod_fcgid spawning and retiring the workers. It runs as the run user from the start (User and
# Group mean nothing then, and mod_fcgid spawns the workers as that user: no suexec in a stack), with
# every file it writes in the stack. Never mod_remoteip: aspida must see the client's own address.
_stack_write_apache_conf() {
	local s=$STACK_DIR env="" errdocs="" kv maxreq code m=/usr/lib/apache2/modules
	# mod_fcgid retires a process after the number of requests the shared-socket modes give
	# max_requests_per_worker; aspida's own is 0 here (aspida.conf(5): each process has its own socket).
	if [[ $STACK_PROFILE == test ]]; then maxreq=500; else maxreq=10000; fi
	# What the other spawners pass (aspida's environment), for the processes mod_fcgid starts.
	for kv in "${STACK_ENV[@]}"; do
		env+=$(printf 'FcgidInitialEnv %s "%s"' "${kv%%=*}" "${kv#*=}")$'\n'
	done
	# JSON bodies for the errors Apache answers itself; only an ErrorDocument redirect may fetch them.
	_stack_as mkdir -p "$s/conf/apache-errors" "$s/conf/apache-fcgi" "$s/run/fcgid" || return 1
	for code in 400:bad_request 403:forbidden 404:not_found 405:method_not_allowed 408:request_timeout \
	    413:payload_too_large 414:uri_too_long 500:internal 501:not_implemented 502:bad_gateway \
	    503:unavailable 504:gateway_timeout; do
		printf '{"error":{"code":"%s","message":"The web server refused the request."}}\n' \
		    "${code#*:}" | _stack_write 0644 "$s/conf/apache-errors/${code%%:*}.json" || return 1
		errdocs+="ErrorDocument ${code%%:*} /.aspida-error/${code%%:*}.json"$'\n'
	done
	: | _stack_write 0644 "$s/conf/apache-fcgi/aspida.fcgi" || return 1
	_stack_write 0640 "$s/conf/apache.conf" <<EOF
# Apache for the stack in $s (mode apache), written by tests/stack/stack.sh.
# Never mod_remoteip: only aspida reads X-Forwarded-For, and only from trusted_proxies.
ServerRoot "$s"
DefaultRuntimeDir "$s/run"
PidFile "$s/run/apache.pid"
Mutex file:$s/run default
ErrorLog "$s/log/apache-error.log"
LogLevel warn
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule alias_module $m/mod_alias.so
LoadModule mime_module $m/mod_mime.so
LoadModule headers_module $m/mod_headers.so
LoadModule reqtimeout_module $m/mod_reqtimeout.so
LoadModule rewrite_module $m/mod_rewrite.so
LoadModule fcgid_module $m/mod_fcgid.so
Listen 127.0.0.1:$STACK_HTTP_PORT
ServerName 127.0.0.1
ServerTokens Prod
ServerSignature Off
TraceEnable Off
FileETag None
Timeout 30
KeepAlive On
RequestReadTimeout header=10-20,MinRate=500 body=20,MinRate=500
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
LogFormat "%a %l %u %t \"%r\" %>s %b %D" stack
CustomLog "$s/log/apache-access.log" stack
TypesConfig /dev/null
# Bytes: twice the larger of max_body_bytes (64 KiB) and ingest_max_body_bytes (256 KiB), so aspida's own
# JSON 413 answers first. mod_fcgid 2.3.9 does not stop at LimitRequestBody's error: it would hand aspida
# the request with the body cut off. So a Content-Length over the limit is refused here, before any
# handler (the check is skipped on the error document's own redirect), and a chunked body that grows
# over it meets FcgidMaxRequestLen, the same number: mod_fcgid's 500, and aspida never sees it.
LimitRequestBody 524288
RewriteEngine On
RewriteCond expr "-z %{ENV:REDIRECT_STATUS} && req_novary('Content-Length') -gt 524288"
RewriteRule ^ - [R=413,L]
LimitRequestFields 50
LimitRequestFieldSize 8190
LimitRequestLine 8190

DocumentRoot "$s/www"
<Directory />
	AllowOverride None
	Options None
	Require all denied
</Directory>
<Directory "$s/www">
	Require all granted
</Directory>

# Only these paths go to aspida: all of them map to one placeholder file outside the document root, and
# FcgidWrapper (virtual: the file is never run) makes the stack's worker the one process class behind
# it. REQUEST_URI keeps the path the client sent.
AliasMatch "^/(api/.*|healthz|readyz|metrics)\$" "$s/conf/apache-fcgi/aspida.fcgi"
<Directory "$s/conf/apache-fcgi">
	Require all granted
	SetHandler fcgid-script
	Options +ExecCGI
	FcgidWrapper "$STACK_WORKER" virtual
	# Authorization reaches aspida as HTTP_AUTHORIZATION.
	CGIPassAuth On
</Directory>
FcgidIPCDir "$s/run/fcgid"
FcgidProcessTableFile "$s/run/fcgid-shm"
FcgidMaxProcesses $STACK_WORKERS
FcgidMaxProcessesPerClass $STACK_WORKERS
FcgidMinProcessesPerClass 1
FcgidMaxRequestsPerProcess $maxreq
FcgidMaxRequestLen 524288
FcgidMaxRequestInMem 524288
FcgidConnectTimeout 5
FcgidIOTimeout 30
FcgidIdleTimeout 600
FcgidProcessLifeTime 0
FcgidSpawnScoreUpLimit 64
FcgidOutputBufferSize 0
$env
# The security headers of API.md on the replies Apache makes itself (its errors, the error documents):
# aspida's replies always carry X-Request-Id and are left alone, so a header aspida forgets is not
# hidden by Apache setting it.
<IfModule headers_module>
	Header always set X-Content-Type-Options "nosniff" "expr=-z resp('X-Request-Id')"
	Header always set X-Frame-Options "DENY" "expr=-z resp('X-Request-Id')"
	Header always set Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" "expr=-z resp('X-Request-Id')"
	Header always set Referrer-Policy "no-referrer" "expr=-z resp('X-Request-Id')"
	Header always set Cache-Control "no-store" "expr=-z resp('X-Request-Id')"
	Header always set X-XSS-Protection "0" "expr=-z resp('X-Request-Id')"
</IfModule>
Alias /.aspida-error/ "$s/conf/apache-errors/"
<Directory "$s/conf/apache-errors">
	ForceType "application/json; charset=utf-8"
	Require expr -n %{ENV:REDIRECT_STATUS}
</Directory>
$errdocs
EOF
}

# The env file: what tests and people need to talk to the stack. Commands are prefixes that work for
# root too (runuser to the run user, which peer authentication maps to the database roles). Mode 0600:
# it holds the demo feed's signing key.
_stack_write_env() {
	local s=$STACK_DIR psql ctl kv
	psql="psql -X -q -h $s/run -p $STACK_PG_PORT -U aspida_owner -d aspida -Atc"
	ctl="env -i"
	if ((EUID == 0)); then
		# env -C: as the run user, psql complains about a cwd it cannot enter (e.g. /root).
		psql="runuser -u $STACK_RUN_USER -- env -C $s $psql"
		ctl="runuser -u $STACK_RUN_USER -- env -C $s -i"
	fi
	for kv in "${STACK_ENV[@]}"; do
		ctl+=" $kv"
	done
	ctl+=" $s/bin/aspidactl -f $s/conf/aspida.conf"
	{
		for kv in \
		    "ASPIDA_STACK=$s" \
		    "ASPIDA_URL=http://127.0.0.1:$STACK_HTTP_PORT" \
		    "ASPIDA_MODE=$STACK_MODE" \
		    "ASPIDA_PROFILE=$STACK_PROFILE" \
		    "ASPIDA_CONF=$s/conf/aspida.conf" \
		    "ASPIDA_LOG=$s/log/aspida.log" \
		    "ASPIDA_PG_PORT=$STACK_PG_PORT" \
		    "ASPIDA_REDIS_PORT=$STACK_REDIS_PORT" \
		    "ASPIDA_RUN_USER=$STACK_RUN_USER" \
		    "ASPIDA_SAN_DIR=$s/san" \
		    "ASPIDA_PG_PASSWORD_FILE=$s/secrets/pg_owner_password" \
		    "ASPIDA_PSQL=$psql" \
		    "ASPIDA_CTL=$ctl" \
		    "ASPIDA_REDIS_CLI=redis-cli -h 127.0.0.1 -p $STACK_REDIS_PORT"; do
			printf '%s=%s\n' "${kv%%=*}" "$(_stack_quote "${kv#*=}")"
		done
		# The demo feed's name and key (the secret file's content), for signing ingestion requests.
		if [[ -r $s/secrets/source_demo ]]; then
			printf 'ASPIDA_SOURCE_NAME=demo\n'
			printf 'ASPIDA_SOURCE_SECRET=%s\n' "$(_stack_quote "$(cat "$s/secrets/source_demo")")"
		fi
	} >"$s/env.tmp" && chmod 0600 "$s/env.tmp" && mv -f "$s/env.tmp" "$s/env"
}

# A secret file of 32 random bytes as 64 hex characters, mode 0600, owned by the run user; kept when
# it exists so that a restarted stack keeps its cursors (and its database password) valid.
_stack_secret() {
	local file=$1
	[[ -s $file ]] && return 0
	od -An -N32 -tx1 /dev/urandom | tr -d ' \n' | _stack_write 0600 "$file"
}

# Sets up (or re-sets up) a stack in DIR from the environment; keeps the data of an earlier run.
stack_init() {
	local dir=${1:-} f
	[[ -n $dir ]] || { _stack_err "usage: stack_init DIR"; return 1; }
	mkdir -p "$dir" && dir=$(cd "$dir" && pwd -P) || return 1
	if (( ${#dir} > _stack_max_dir_len )); then
		_stack_err "$dir is too long for the stack's unix sockets (at most $_stack_max_dir_len characters)"
		return 1
	fi
	if [[ -f $dir/stack.vars ]] && (ASPIDA_STACK=$dir && stack_is_running); then
		_stack_err "a stack is running in $dir: stack_stop it first"
		return 1
	fi
	STACK_DIR=$dir
	STACK_PROFILE=${ASPIDA_PROFILE:-test}
	STACK_MODE=${ASPIDA_MODE:-spawn}
	case $STACK_PROFILE in
	test) STACK_HTTP_PORT=18080 STACK_PG_PORT=15432 STACK_REDIS_PORT=16379 ;;
	quickstart) STACK_HTTP_PORT=8080 STACK_PG_PORT=55432 STACK_REDIS_PORT=56379 ;;
	*) _stack_err "ASPIDA_PROFILE must be test or quickstart, not $STACK_PROFILE"; return 1 ;;
	esac
	case $STACK_MODE in
	spawn | master | binpath | apache) ;;
	*) _stack_err "ASPIDA_MODE must be spawn, master, binpath or apache, not $STACK_MODE"; return 1 ;;
	esac
	STACK_HTTP_PORT=${ASPIDA_HTTP_PORT:-$STACK_HTTP_PORT}
	STACK_PG_PORT=${ASPIDA_PG_PORT:-$STACK_PG_PORT}
	STACK_REDIS_PORT=${ASPIDA_REDIS_PORT:-$STACK_REDIS_PORT}
	STACK_WORKERS=${ASPIDA_WORKERS:-4}
	local bindir=${ASPIDA_BIN_DIR:-$_stack_src/build/src}
	local worker=${ASPIDA_WORKER_BIN:-$bindir/aspida}
	local sqldir=${ASPIDA_SQL_DIR:-$_stack_src/sql}
	STACK_DEMO_DATA=${ASPIDA_DEMO_DATA:-1}
	STACK_WORKER=$dir/bin/${worker##*/}
	[[ -x $worker ]] || { _stack_err "no worker program at $worker (build first)"; return 1; }

	_stack_resolve_user || return 1
	if ((EUID == 0)); then
		chown "$STACK_RUN_USER:$STACK_RUN_GROUP" "$dir" || return 1
	fi
	chmod 0700 "$dir" || return 1
	if ! (cd / && "${STACK_AS_USER[@]}" test -x "$dir" -a -w "$dir"); then
		_stack_err "$STACK_RUN_USER cannot reach $dir; use a directory it can reach (e.g. under /tmp)"
		return 1
	fi
	_stack_as mkdir -p bin sql conf secrets pg redis run log san www tmp state gcov || return 1
	_stack_as chmod 0700 pg secrets || return 1

	# Copies, so that the run user never needs to reach the repository.
	for f in "$bindir/aspida" "$bindir/aspidactl" "$worker"; do
		[[ -x $f ]] || continue
		install -m 0755 "$f" "$dir/bin/${f##*/}.tmp" && mv -f "$dir/bin/${f##*/}.tmp" "$dir/bin/${f##*/}" ||
			return 1
	done
	if [[ -d $sqldir ]]; then
		find "$dir/sql" -maxdepth 1 -name '*.sql' -delete
		for f in "$sqldir"/*.sql; do
			if [[ -f $f ]]; then
				install -m 0644 "$f" "$dir/sql/" || return 1
			fi
		done
	fi
	if [[ -f $_stack_src/tests/stack/lsan.supp ]]; then
		install -m 0644 "$_stack_src/tests/stack/lsan.supp" "$dir/conf/lsan.supp" || return 1
	fi
	if ((EUID == 0)); then
		chown -R "$STACK_RUN_USER:$STACK_RUN_GROUP" "$dir/bin" "$dir/sql" "$dir/conf" || return 1
	fi

	_stack_secret "$dir/secrets/cursor_secret" || return 1
	_stack_secret "$dir/secrets/jwt_key" || return 1
	_stack_secret "$dir/secrets/password_pepper" || return 1
	_stack_secret "$dir/secrets/csrf_secret" || return 1
	_stack_secret "$dir/secrets/pg_owner_password" || return 1
	_stack_secret "$dir/secrets/source_demo" || return 1

	{
		printf '# Settings of this stack, written by stack_init; sourced by tests/stack/stack.sh.\n'
		for f in STACK_DIR STACK_PROFILE STACK_MODE STACK_HTTP_PORT STACK_PG_PORT STACK_REDIS_PORT \
		    STACK_WORKERS STACK_WORKER STACK_DEMO_DATA STACK_RUN_USER STACK_RUN_GROUP; do
			printf '%s=%q\n' "$f" "${!f}"
		done
	} >"$dir/stack.vars" || return 1
	_stack_aspida_env
	_stack_write_aspida_conf || return 1
	_stack_write_redis_conf || return 1
	_stack_write_env || return 1
	ASPIDA_STACK=$dir
}

_stack_pg_pid() {
	_stack_pidfile_pid "$STACK_DIR/pg/postmaster.pid" postgres
}

_stack_psql() {
	_stack_as psql -X -q -v ON_ERROR_STOP=1 -h "$STACK_DIR/run" -p "$STACK_PG_PORT" "$@"
}

# Starts PostgreSQL (initdb on first use); a frozen server is thawed instead.
pg_start() {
	_stack_load || return 1
	local s=$STACK_DIR
	if _stack_pg_pid >/dev/null; then
		pg_thaw
		return
	fi
	_stack_port_free "$STACK_PG_PORT" "ASPIDA_PG_PORT" || return 1
	if [[ ! -f $s/pg/PG_VERSION ]]; then
		_stack_as "$_stack_pgbin/initdb" -D "$s/pg" -U postgres -A peer --auth-host=reject \
		    -E UTF8 --no-locale --no-instructions >>"$s/log/initdb.log" 2>&1 ||
			{ tail -n 20 "$s/log/initdb.log" >&2; _stack_err "initdb failed"; return 1; }
		printf "include '%s'\n" "$s/conf/postgresql.conf" >>"$s/pg/postgresql.conf" || return 1
	fi
	_stack_write_pg_conf || return 1
	if ! _stack_as "$_stack_pgbin/pg_ctl" -D "$s/pg" -l "$s/log/postgres.log" -w -t 60 -s start \
	    >/dev/null; then
		tail -n 20 "$s/log/postgres.log" >&2
		_stack_err "PostgreSQL did not start"
		return 1
	fi
}

pg_stop() {
	_stack_load || return 1
	_stack_pg_pid >/dev/null || return 0
	pg_thaw
	_stack_as "$_stack_pgbin/pg_ctl" -D "$STACK_DIR/pg" -m fast -w -t 60 -s stop >/dev/null && return 0
	_stack_note "PostgreSQL did not stop in time; immediate shutdown"
	_stack_as "$_stack_pgbin/pg_ctl" -D "$STACK_DIR/pg" -m immediate -w -t 30 -s stop >/dev/null
}

# SIGSTOP the postmaster and every child it has: connections are accepted by the kernel and never
# answered, as with a hung server, which only client-side deadlines survive.
pg_freeze() {
	_stack_load || return 1
	local pid kid
	pid=$(_stack_pg_pid) || { _stack_err "PostgreSQL is not running"; return 1; }
	kill -STOP "$pid" || return 1
	for kid in $(pgrep -P "$pid"); do
		kill -STOP "$kid" 2>/dev/null || true
	done
	: >"$STACK_DIR/run/pg.frozen"
}

pg_thaw() {
	_stack_load || return 1
	local pid kid
	rm -f "$STACK_DIR/run/pg.frozen"
	pid=$(_stack_pg_pid) || return 0
	for kid in $(pgrep -P "$pid"); do
		kill -CONT "$kid" 2>/dev/null || true
	done
	kill -CONT "$pid" 2>/dev/null || true
}

# Creates the owner role and the database, runs the migrations, loads the demo data once.
pg_setup() {
	_stack_load || return 1
	local s=$STACK_DIR pw
	pw=$(cat "$s/secrets/pg_owner_password") || return 1
	# CREATEROLE: the first migration creates the runtime role aspida_app.
	_stack_psql -U postgres -d postgres >/dev/null <<EOF || { _stack_err "creating the owner failed"; return 1; }
DO \$\$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aspida_owner') THEN
		CREATE ROLE aspida_owner LOGIN CREATEROLE;
	END IF;
END \$\$;
ALTER ROLE aspida_owner PASSWORD '$pw';
SELECT 'CREATE DATABASE aspida OWNER aspida_owner'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'aspida') \gexec
EOF
	if ! _stack_as env -i "${STACK_ENV[@]}" "$s/bin/aspidactl" -f "$s/conf/aspida.conf" migrate \
	    --sql-dir "$s/sql" >>"$s/log/migrate.log" 2>&1; then
		tail -n 20 "$s/log/migrate.log" >&2
		_stack_err "aspidactl migrate failed"
		return 1
	fi
	if [[ $STACK_DEMO_DATA == 1 && ! -f $s/state/demo-loaded ]]; then
		if [[ -f $s/sql/demo_data.sql ]]; then
			_stack_psql -U aspida_owner -d aspida -f "$s/sql/demo_data.sql" >>"$s/log/migrate.log" 2>&1 ||
				{ tail -n 20 "$s/log/migrate.log" >&2; _stack_err "loading demo_data.sql failed"; return 1; }
			: >"$s/state/demo-loaded"
		else
			_stack_note "no sql/demo_data.sql: the stack has no demo data"
		fi
	fi
}

_stack_redis_pid() {
	_stack_pidfile_pid "$STACK_DIR/run/redis.pid" "redis-server"
}

_stack_redis_ping() {
	[[ $(redis-cli -h 127.0.0.1 -p "$STACK_REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_start() {
	_stack_load || return 1
	_stack_redis_pid >/dev/null && return 0
	_stack_port_free "$STACK_REDIS_PORT" "ASPIDA_REDIS_PORT" || return 1
	_stack_write_redis_conf || return 1
	if ! _stack_as redis-server "$STACK_DIR/conf/redis.conf" >>"$STACK_DIR/log/redis-start.log" 2>&1; then
		tail -n 20 "$STACK_DIR/log/redis-start.log" "$STACK_DIR/log/redis.log" >&2
		_stack_err "Redis did not start"
		return 1
	fi
	_stack_wait_for 30 _stack_redis_ping ||
		{ tail -n 20 "$STACK_DIR/log/redis.log" >&2; _stack_err "Redis does not answer PING"; return 1; }
}

redis_stop() {
	_stack_load || return 1
	local pid
	pid=$(_stack_redis_pid) || return 0
	_stack_terminate "$pid" 30 redis-server
}

# Starts a long-running program in the background, in a session of its own (so that the terminal's
# Ctrl-C reaches only quickstart, which then stops everything in order), with every standard stream
# redirected (so that a caller reading our output, e.g. pytest's subprocess, is not held open), and
# records its pid. Under an interactive shell's job control the job is already a group of its own and
# setsid would fork, hiding the pid.
_stack_daemon() {
	local name=$1
	shift
	(
		cd "$STACK_DIR" || exit 1
		exec </dev/null >>"$STACK_DIR/log/$name.log" 2>&1
		[[ $- == *m* ]] || exec setsid "$@"
		exec "$@"
	) &
	printf '%s\n' "$!" >"$STACK_DIR/run/$name.pid"
}

_stack_workers_pid() {
	case $STACK_MODE in
	spawn) _stack_pidfile_pid "$STACK_DIR/run/workers.pid" multiwatch ;;
	master) _stack_pidfile_pid "$STACK_DIR/run/workers.pid" "$STACK_WORKER" ;;
	binpath) _stack_lighttpd_pid ;;
	apache) _stack_apache_pid ;;
	esac
}

# The worker processes themselves, whoever spawned them.
_stack_worker_pids() {
	pgrep -f -- "^$STACK_WORKER( |\$)"
}

# Validates aspida.conf (and the secrets) the way the workers will read it, before spawning anything:
# a worker that dies at start-up is otherwise only a respawn loop in a log.
aspida_check_config() {
	_stack_load || return 1
	[[ -x $STACK_DIR/bin/aspida ]] || { _stack_err "no aspida binary in the stack"; return 1; }
	_stack_as env -i "${STACK_ENV[@]}" "$STACK_DIR/bin/aspida" -f "$STACK_DIR/conf/aspida.conf" -n ||
		{ _stack_err "aspida -n rejects $STACK_DIR/conf/aspida.conf"; return 1; }
}

workers_start() {
	_stack_load || return 1
	local s=$STACK_DIR sock=$STACK_DIR/run/aspida.sock
	local -a argv
	if [[ $STACK_MODE == binpath ]]; then
		lighttpd_start
		return
	fi
	if [[ $STACK_MODE == apache ]]; then
		apache_start
		return
	fi
	_stack_workers_pid >/dev/null && return 0
	rm -f "$sock"
	case $STACK_MODE in
	spawn)
		# spawn-fcgi binds the socket and execs multiwatch, which forks N workers and respawns any that
		# exits: -t 1000 resets a child's retry count once it has lived a second, and -r 1000 tolerates
		# that many quicker deaths in a row, so workers retired by max_requests_per_worker or killed by a
		# test always come back. env -i: spawn-fcgi passes its whole environment on to the workers.
		argv=(env -i "${STACK_ENV[@]}" /usr/bin/spawn-fcgi -n -s "$sock" -M 0660)
		if ((EUID == 0)); then
			# spawn-fcgi drops to -u/-g itself; the socket goes to the same user, which lighttpd runs as.
			argv+=(-u "$STACK_RUN_USER" -g "$STACK_RUN_GROUP" -U "$STACK_RUN_USER" -G "$STACK_RUN_GROUP")
		fi
		argv+=(-- /usr/bin/multiwatch -f "$STACK_WORKERS" -r 1000 -t 1000 --
		    "$STACK_WORKER" -f "$s/conf/aspida.conf")
		;;
	master)
		argv=("${STACK_AS_USER[@]}" env -i "${STACK_ENV[@]}"
		    "$STACK_WORKER" -f "$s/conf/aspida.conf" -l "$sock" -w "$STACK_WORKERS")
		;;
	esac
	_stack_daemon workers "${argv[@]}"
	if ! _stack_wait_for 30 _stack_workers_up; then
		tail -n 20 "$s/log/workers.log" >&2
		_stack_err "the workers ($STACK_MODE) did not come up"
		return 1
	fi
}

workers_stop() {
	_stack_load || return 1
	local pid rc=0
	if [[ $STACK_MODE == binpath ]]; then
		lighttpd_stop
		return
	fi
	if [[ $STACK_MODE == apache ]]; then
		apache_stop
		return
	fi
	# multiwatch turns TERM into USR1 for its children; aspida's master drains on TERM.
	if pid=$(_stack_workers_pid); then
		_stack_terminate "$pid" 20 "workers ($STACK_MODE)" || rc=1
	fi
	_stack_wait_for 10 _stack_no_workers || rc=1
	rm -f "$STACK_DIR/run/aspida.sock"
	return "$rc"
}

_stack_no_workers() {
	! _stack_worker_pids >/dev/null
}

# The socket is there and its owner runs (spawn-fcgi creates the socket before it execs multiwatch).
_stack_workers_up() {
	[[ -S $STACK_DIR/run/aspida.sock ]] && _stack_workers_pid >/dev/null
}

workers_restart() {
	_stack_load || return 1
	if [[ $STACK_MODE == binpath ]]; then
		lighttpd_stop && lighttpd_start
	elif [[ $STACK_MODE == apache ]]; then
		apache_stop && apache_start
	else
		workers_stop && workers_start
	fi
}

_stack_lighttpd_pid() {
	_stack_pidfile_pid "$STACK_DIR/run/lighttpd.pid" lighttpd
}

lighttpd_start() {
	_stack_load || return 1
	local s=$STACK_DIR
	# In apache mode Apache stands where lighttpd does, so every caller of these two gets it.
	if [[ $STACK_MODE == apache ]]; then
		apache_start
		return
	fi
	_stack_lighttpd_pid >/dev/null && return 0
	_stack_port_free "$STACK_HTTP_PORT" "ASPIDA_HTTP_PORT" || return 1
	_stack_write_lighttpd_conf || return 1
	rm -f "$s/run/lighttpd.pid"
	# lighttpd runs as the run user from the start: it needs no privilege on a port above 1024, and it
	# then shares the socket's owner with the workers.
	if ! _stack_as env -i "$_stack_path" /usr/sbin/lighttpd -tt -f "$s/conf/lighttpd.conf" \
	    >>"$s/log/lighttpd-start.log" 2>&1; then
		tail -n 20 "$s/log/lighttpd-start.log" >&2
		_stack_err "lighttpd rejects its configuration"
		return 1
	fi
	_stack_as env -i "$_stack_path" /usr/sbin/lighttpd -f "$s/conf/lighttpd.conf" \
	    </dev/null >>"$s/log/lighttpd-start.log" 2>&1 ||
		{ tail -n 20 "$s/log/lighttpd-start.log" "$s/log/lighttpd-error.log" >&2
		  _stack_err "lighttpd did not start"; return 1; }
	_stack_wait_for 30 _stack_lighttpd_pid >/dev/null ||
		{ _stack_err "lighttpd wrote no pid file"; return 1; }
	_stack_wait_for 30 _stack_port_busy "$STACK_HTTP_PORT" ||
		{ _stack_err "lighttpd does not listen on $STACK_HTTP_PORT"; return 1; }
}

lighttpd_stop() {
	_stack_load || return 1
	local pid rc=0
	if [[ $STACK_MODE == apache ]]; then
		apache_stop
		return
	fi
	if pid=$(_stack_lighttpd_pid); then
		_stack_terminate "$pid" 20 lighttpd || rc=1
	fi
	# bin-path workers are lighttpd's children: it signals them as it exits.
	if [[ $STACK_MODE == binpath ]]; then
		_stack_wait_for 20 _stack_no_workers || rc=1
		rm -f "$STACK_DIR"/run/aspida-bp.sock*
	fi
	return "$rc"
}

_stack_apache_pid() {
	_stack_pidfile_pid "$STACK_DIR/run/apache.pid" apache2
}

apache_start() {
	_stack_load || return 1
	local s=$STACK_DIR
	_stack_apache_pid >/dev/null && return 0
	_stack_port_free "$STACK_HTTP_PORT" "ASPIDA_HTTP_PORT" || return 1
	_stack_write_apache_conf || return 1
	# A killed Apache leaves mod_fcgid's sockets and table behind.
	rm -rf "$s/run/apache.pid" "$s/run/fcgid-shm" "$s"/run/fcgid/*
	if ! _stack_as env -i "$_stack_path" /usr/sbin/apache2 -t -f "$s/conf/apache.conf" \
	    >>"$s/log/apache-start.log" 2>&1; then
		tail -n 20 "$s/log/apache-start.log" >&2
		_stack_err "Apache rejects its configuration"
		return 1
	fi
	# Apache runs as the run user from the start, as lighttpd does; it detaches and writes its pid file.
	_stack_as env -i "$_stack_path" /usr/sbin/apache2 -f "$s/conf/apache.conf" -k start \
	    </dev/null >>"$s/log/apache-start.log" 2>&1 ||
		{ tail -n 20 "$s/log/apache-start.log" "$s/log/apache-error.log" >&2
		  _stack_err "Apache did not start"; return 1; }
	_stack_wait_for 30 _stack_apache_pid >/dev/null ||
		{ _stack_err "Apache wrote no pid file"; return 1; }
	_stack_wait_for 30 _stack_port_busy "$STACK_HTTP_PORT" ||
		{ _stack_err "Apache does not listen on $STACK_HTTP_PORT"; return 1; }
}

apache_stop() {
	_stack_load || return 1
	local pid rc=0
	# On TERM Apache stops its children; mod_fcgid's process manager then stops the workers.
	if pid=$(_stack_apache_pid); then
		_stack_terminate "$pid" 20 apache2 || rc=1
	fi
	_stack_wait_for 20 _stack_no_workers || rc=1
	rm -rf "$STACK_DIR/run/fcgid-shm" "$STACK_DIR"/run/fcgid/*
	return "$rc"
}

_stack_answers_200() {
	[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$STACK_HTTP_PORT$1" 2>/dev/null) == 200 ]]
}

# Waits up to SECONDS (60) until GET PATH (/healthz) through lighttpd answers 200; a sanitizer build
# starts slowly.
stack_wait_ready() {
	_stack_load || return 1
	local secs=${1:-60} path=${2:-/healthz}
	_stack_wait_for "$secs" _stack_answers_200 "$path" ||
		{ _stack_err "GET $path does not answer 200 on port $STACK_HTTP_PORT"; return 1; }
}

# Starts every piece that is not running, in dependency order, then waits for /healthz.
stack_start() {
	_stack_load || return 1
	pg_start || return 1
	pg_setup || return 1
	redis_start || return 1
	aspida_check_config || return 1
	workers_start || return 1
	lighttpd_start || return 1
	stack_wait_ready 60 || { stack_logs 20 >&2; return 1; }
	_stack_write_env
}

# What a test that broke a piece calls afterwards: thaw, start whatever is down, and wait until aspida
# reports both dependencies back (its workers reconnect with a backoff), so the next test starts
# from a healthy stack.
stack_heal() {
	_stack_load || return 1
	pg_thaw
	pg_start || return 1
	redis_start || return 1
	workers_start || return 1
	lighttpd_start || return 1
	stack_wait_ready 60 /readyz
}

# Every process that belongs to this stack and is still running.
_stack_leftovers() {
	# Each probe may find nothing; `|| true` keeps a caller's errexit from cutting the list short.
	local pid
	{
		if pid=$(_stack_pg_pid); then
			echo "$pid"
			pgrep -P "$pid" || true
		fi
		pgrep -f -- "$STACK_DIR/pg( |\$)" || true
		_stack_redis_pid || true
		pgrep -f -- "^redis-server 127\\.0\\.0\\.1:$STACK_REDIS_PORT( |\$)" || true
		_stack_lighttpd_pid || true
		pgrep -f -- "lighttpd .*$STACK_DIR/conf/" || true
		_stack_apache_pid || true
		pgrep -f -- "apache2 .*$STACK_DIR/conf/" || true
		pgrep -f -- "multiwatch .*$STACK_DIR/" || true
		pgrep -f -- "^$STACK_DIR/bin/" || true
	} 2>/dev/null | sort -un
}

_stack_no_leftovers() {
	[[ -z $(_stack_leftovers) ]]
}

# True when any process of the stack is running.
stack_is_running() {
	_stack_load || return 1
	! _stack_no_leftovers
}

# Stops everything (front to back, so no request meets a missing backend), then verifies with pgrep that
# no process of the stack is left; any that is gets SIGKILL and makes the call fail.
stack_stop() {
	_stack_load || return 1
	local rc=0 pid left
	lighttpd_stop || rc=1
	workers_stop || rc=1
	redis_stop || rc=1
	pg_stop || rc=1
	if ! _stack_wait_for 10 _stack_no_leftovers; then
		left=$(_stack_leftovers)
		_stack_note "left running after stop, killing:"
		for pid in $left; do
			ps -o pid=,user=,args= -p "$pid" >&2 || true
			kill -KILL "$pid" 2>/dev/null || true
		done
		rc=1
	fi
	rm -f "$STACK_DIR"/run/*.pid "$STACK_DIR/run/pg.frozen"
	return "$rc"
}

stack_status() {
	_stack_load || return 1
	local rc=0 pid n state
	printf 'stack %s: mode %s, profile %s, user %s\n' "$STACK_DIR" "$STACK_MODE" "$STACK_PROFILE" \
	    "$STACK_RUN_USER"
	if pid=$(_stack_pg_pid); then
		state=up
		[[ $(awk '{ print $3 }' "/proc/$pid/stat") == T ]] && state=frozen
		printf '  postgres  %-6s pid %s, 127.0.0.1:%s and %s/run\n' "$state" "$pid" "$STACK_PG_PORT" "$STACK_DIR"
	else
		printf '  postgres  down\n'
		rc=1
	fi
	if pid=$(_stack_redis_pid); then
		printf '  redis     up     pid %s, 127.0.0.1:%s\n' "$pid" "$STACK_REDIS_PORT"
	else
		printf '  redis     down\n'
		rc=1
	fi
	n=$({ _stack_worker_pids || true; } | wc -l)
	if pid=$(_stack_workers_pid) && ((n > 0)); then
		printf '  workers   up     %s process(es) of %s, spawned by pid %s (%s)\n' "$n" "${STACK_WORKER##*/}" \
		    "$pid" "$STACK_MODE"
	else
		printf '  workers   down   (%s process(es))\n' "$n"
		rc=1
	fi
	if [[ $STACK_MODE == apache ]]; then
		if pid=$(_stack_apache_pid); then
			printf '  apache    up     pid %s, http://127.0.0.1:%s\n' "$pid" "$STACK_HTTP_PORT"
		else
			printf '  apache    down\n'
			rc=1
		fi
	elif pid=$(_stack_lighttpd_pid); then
		printf '  lighttpd  up     pid %s, http://127.0.0.1:%s\n' "$pid" "$STACK_HTTP_PORT"
	else
		printf '  lighttpd  down\n'
		rc=1
	fi
	return "$rc"
}

# Prints the sanitizer reports the stack's processes wrote (the first three in full, up to ASan's
# shadow-byte dump; of the others, their SUMMARY line); returns 1 when there is any.
stack_sanitizer_reports() {
	_stack_load || return 1
	local f n=0
	for f in "$STACK_DIR"/san/*; do
		[[ -f $f ]] || continue
		n=$((n + 1))
		if ((n <= 3)); then
			printf '=== sanitizer report %s\n' "$f"
			sed '/^Shadow bytes around/q' "$f" | head -n 60
		else
			printf '=== sanitizer report %s: %s\n' "$f" "$(grep -m 1 '^SUMMARY' "$f" || true)"
		fi
	done
	((n == 0))
}

# The last lines of every log of the stack, for a failure's diagnosis.
stack_logs() {
	_stack_load || return 1
	local f n=${1:-40}
	for f in "$STACK_DIR"/log/*; do
		[[ -s $f ]] || continue
		printf '=== %s (last %s lines)\n' "$f" "$n"
		tail -n "$n" "$f"
	done
}

# Sourced with ASPIDA_STACK set: that stack's settings are ready for every function.
if [[ -n ${ASPIDA_STACK:-} && -f ${ASPIDA_STACK}/stack.vars ]]; then
	_stack_load
fi

# Run as a script: `bash tests/stack/stack.sh FUNCTION ARGS`.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -uo pipefail
	"$@"
fi
