/*
 * aspidactl: the administrator's tool.  One table, cmds[], gives every
 * command its name, its forms, its function and its help paragraph, so
 * "aspidactl help", "CMD --help" and the usage errors come from the same
 * row.  The commands: migrate (pending schema migrations, each in its own
 * transaction under an advisory lock so two migrators cannot interleave),
 * check-config, user, unlock, revoke-sessions, key, tick, ip,
 * import-prices, events and alerts.  Exit statuses are CTL_* below, as
 * aspidactl(8) documents them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <crypt.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "aspida.h"

#ifndef DATADIR
#define DATADIR "/usr/share/aspida"
#endif

#define MIGRATION_LOCK	"7354626"	/* advisory lock key: "aspida" */
#define MIGRATION_MAX	(4 * 1024 * 1024)

/*
 * Exit statuses, as aspidactl(8) documents them under EXIT STATUS.  A
 * script can tell "retry later" (1) from "fix the command" (2) and from
 * "nothing to do" (3).
 */
#define CTL_OK		0	/* done */
#define CTL_FAIL	1	/* configuration, secrets, PostgreSQL, Redis, files */
#define CTL_USAGE	2	/* wrong command line; nothing was done */
#define CTL_REFUSED	3	/* no such user, key or block; already exists;
				   a weak password; lines rejected */

/*
 * One row per command.  usage lists its forms separated by " | ";
 * help is the paragraph "aspidactl help CMD" and "CMD --help" print,
 * after the forms.  A new command is one row and one function.
 */
struct ctl_cmd {
	const char	*name;
	const char	*usage;
	int		(*fn)(int, char **);
	const char	*help;
};

static const char *sql_dir;

static int	cmd_migrate(int, char **);
static int	cmd_check_config(int, char **);
static int	cmd_user(int, char **);
static int	cmd_unlock(int, char **);
static int	cmd_revoke_sessions(int, char **);
static int	cmd_key(int, char **);
static int	cmd_tick(int, char **);
static int	cmd_ip(int, char **);
static int	cmd_import_prices(int, char **);
static int	cmd_events(int, char **);
static int	cmd_alerts(int, char **);

static const struct ctl_cmd cmds[] = {
	{ "migrate", "migrate [--sql-dir DIR]", cmd_migrate,
	    "Apply the pending schema migrations (DIR, else $ASPIDA_SQL_DIR, "
	    "else the installed sql directory) as the owner role of "
	    "db_owner_conninfo, each in its own transaction under an "
	    "advisory lock, so running it again or twice at once is safe." },
	{ "check-config", "check-config", cmd_check_config,
	    "Check the configuration file and its secret files as "
	    "\"aspida -n\" does, and print \"FILE: configuration OK\" or "
	    "the file, line or key, and the problem.  Run it as the user "
	    "aspida runs as, who owns the secret files." },
	{ "user", "user add EMAIL [--admin] [--name NAME] | user list",
	    cmd_user,
	    "Create a user (an administrator with --admin; the only way to "
	    "make one), reading the password from standard input, never "
	    "from the command line; it must pass the same strength checks "
	    "as registration.  \"user list\" prints every user: id, email, "
	    "role, creation time and name." },
	{ "unlock", "unlock EMAIL", cmd_unlock,
	    "Lift the login lock of the account with this email: clear its "
	    "failure count, lock and lock level in Redis.  Unknown emails "
	    "are locked like real ones, so any well-formed email is "
	    "accepted." },
	{ "revoke-sessions", "revoke-sessions EMAIL", cmd_revoke_sessions,
	    "The incident tool for a compromised account: raise the user's "
	    "token generation and revoke every refresh family and API key "
	    "in one statement, so every access token, refresh token and key "
	    "of the user stops working." },
	{ "key", "key list [EMAIL] | key revoke ID", cmd_key,
	    "List the API keys of every user or of one (id, email, name, "
	    "prefix, scopes, state, expiry, uses), or revoke the live key "
	    "with this id; its next request is refused." },
	{ "tick", "tick", cmd_tick,
	    "The periodic work, run every minute by a timer or cron: write "
	    "out the security events counted in Redis and the API keys' "
	    "use, score the forecasts whose horizon has passed, evaluate the "
	    "per-principal alert rules, store the alerts that waited in Redis "
	    "while PostgreSQL was down, and run alert_command for each new "
	    "alert.  Needs PostgreSQL and Redis." },
	{ "ip", "ip block CIDR [--minutes N] [--reason TEXT] | ip unblock ID | "
	    "ip list", cmd_ip,
	    "Block an address or network (for N minutes, 1 to 525600, else "
	    "until unblocked): its requests get 403 before their body is "
	    "read, on every host within about a second.  \"ip unblock\" "
	    "ends a block by id, made by hand or automatically; \"ip list\" "
	    "prints the active ones." },
	{ "import-prices", "import-prices FILE.csv --source NAME",
	    cmd_import_prices,
	    "Load \"asset_id,ts,price\" lines through exactly the checks a "
	    "signed price feed passes, as the runtime role of db_conninfo, "
	    "in transactions of 1000 points; print each rejected line with "
	    "its reason, then the totals.  Exits 3 when some lines were "
	    "rejected." },
	{ "events", "events [--type T] [--since TS] [--limit N]", cmd_events,
	    "Print the security events, newest first: of one kind (T, e.g. "
	    "login_failure), recorded at or after TS (RFC 3339, e.g. "
	    "2026-01-02T03:04:05Z), at most N (1 to 1000, default 100)." },
	{ "alerts", "alerts [--since TS] [--limit N]", cmd_alerts,
	    "Print the alerts, newest first: raised at or after TS (RFC "
	    "3339), at most N (1 to 1000, default 100)." },
};

#define CTL_NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static const struct ctl_cmd *ctl_current;	/* the command running */

static void __attribute__((noreturn)) usage(void);
static void __attribute__((noreturn, format(printf, 1, 2)))
		ctl_bad_arg(const char *, ...);
static void __attribute__((format(printf, 1, 2))) ctl_warn(const char *, ...);

/*
 * Prints "FIRST aspidactl [-f file] FORM" for each form of c->usage, the
 * forms after the first indented to line up; an overview leaves out
 * "[-f file]".
 */
static void
ctl_print_forms(FILE *f, const struct ctl_cmd *c, const char *first)
{
	const char	*s = c->usage, *bar;
	int		 n = 0, overview = first[0] == ' ';

	do {
		bar = strstr(s, " | ");
		fprintf(f, "%*s aspidactl %s%.*s\n", (int)strlen(first),
		    n++ == 0 ? first : "", overview ? "" : "[-f file] ",
		    (int)(bar ? (size_t)(bar - s) : strlen(s)), s);
		s = bar ? bar + 3 : NULL;
	} while (s != NULL);
}

/* Prints a paragraph word-wrapped at 72 columns. */
static void
ctl_wrap(FILE *f, const char *s)
{
	size_t	col = 0, w;

	while (*s != '\0') {
		s += strspn(s, " ");
		if ((w = strcspn(s, " ")) == 0)
			break;
		if (col > 0 && col + 1 + w > 72) {
			fputc('\n', f);
			col = 0;
		} else if (col > 0) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, s);
		col += w;
		s += w;
	}
	fputc('\n', f);
}

/*
 * Usage errors: the forms of the command that was being run (or of every
 * command), on standard error, and exit 2.
 */
static void
usage(void)
{
	size_t	i;

	if (ctl_current != NULL) {
		fprintf(stderr, "aspidactl: %s: wrong arguments\n",
		    ctl_current->name);
		ctl_print_forms(stderr, ctl_current, "usage:");
		fprintf(stderr, "Try \"aspidactl %s --help\".\n",
		    ctl_current->name);
		exit(CTL_USAGE);
	}
	fprintf(stderr, "usage: aspidactl [-f file] command [argument ...]\n"
	    "       aspidactl help [command]\ncommands:\n");
	for (i = 0; i < CTL_NCMDS; i++)
		ctl_print_forms(stderr, &cmds[i], "     ");
	exit(CTL_USAGE);
}

/* A malformed argument: the reason, naming the command, and exit 2. */
static void
ctl_bad_arg(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "aspidactl: %s: ", ctl_current ? ctl_current->name :
	    "usage");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"aspidactl %s --help\".\n",
	    ctl_current ? ctl_current->name : "help");
	exit(CTL_USAGE);
}

/* An error message naming the command; fmt ends in a newline. */
static void
ctl_warn(const char *fmt, ...)
{
	va_list	ap;

	if (ctl_current != NULL)
		fprintf(stderr, "aspidactl: %s: ", ctl_current->name);
	else
		fprintf(stderr, "aspidactl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static const struct ctl_cmd *
ctl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(name, cmds[i].name) == 0)
			return &cmds[i];
	return NULL;
}

/* "aspidactl CMD --help": the command's forms and paragraph, exit 0. */
static void __attribute__((noreturn))
ctl_help_cmd(const struct ctl_cmd *c)
{
	ctl_print_forms(stdout, c, "usage:");
	fputc('\n', stdout);
	ctl_wrap(stdout, c->help != NULL ? c->help :
	    "See aspidactl(8) for this command.");
	printf("\nExit status: 0 done, 1 failure, 2 usage error, "
	    "3 refused (see aspidactl(8)).\n");
	exit(fflush(stdout) == 0 ? CTL_OK : CTL_FAIL);
}

/* "aspidactl --help" and "aspidactl help": every command, exit 0. */
static void __attribute__((noreturn))
ctl_help_all(void)
{
	size_t	i;

	printf("usage: aspidactl [-f file] command [argument ...]\n"
	    "       aspidactl help [command]\n"
	    "       aspidactl command --help\n\n"
	    "The administrator's tool for aspida(8).  Commands:\n");
	for (i = 0; i < CTL_NCMDS; i++)
		ctl_print_forms(stdout, &cmds[i], "     ");
	printf("\nExit status: 0 done, 1 failure (configuration, secrets, "
	    "PostgreSQL,\nRedis, files), 2 usage error, 3 refused (no such "
	    "user, key or\nblock; already exists; weak password; rejected "
	    "lines).\nSee aspidactl(8).\n");
	exit(fflush(stdout) == 0 ? CTL_OK : CTL_FAIL);
}

static PGconn *
owner_connect(void)
{
	PGconn	*c = PQconnectdb(conf->db_owner_conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		ctl_warn("cannot connect to the database: %s",
		    PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int
exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult	*res = PQexec(c, sql);
	int		 ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
			    PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		ctl_warn("%s: %s", what, PQerrorMessage(c));
	PQclear(res);
	return ok ? 0 : -1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a migration file whole; NULL on error (reported). */
static char *
slurp(const char *path)
{
	FILE		*f;
	struct stat	 st;
	char		*s;

	if ((f = fopen(path, "re")) == NULL || fstat(fileno(f), &st) == -1 ||
	    st.st_size > MIGRATION_MAX) {
		ctl_warn("%s: %s\n", path,
		    f ? "too large" : strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	if ((s = calloc(1, (size_t)st.st_size + 1)) == NULL ||
	    fread(s, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		ctl_warn("%s: read error\n", path);
		free(s);
		fclose(f);
		return NULL;
	}
	fclose(f);
	return s;
}

static int
applied(PGconn *c, const char *version)
{
	const char	*params[1] = { version };
	PGresult	*res;
	int		 yes;

	res = PQexec(c, "SELECT to_regclass('public.schema_migrations')");
	yes = PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0);
	PQclear(res);
	if (!yes)
		return 0;
	res = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
	    1, NULL, params, NULL, NULL, 0);
	yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	PQclear(res);
	return yes;
}

/*
 * Applies DIR/NNN_*.sql in order, skipping versions already recorded.
 * Each migration and its record commit together or not at all.
 */
static int
cmd_migrate(int argc, char **argv)
{
	DIR		*d;
	struct dirent	*de;
	char		*names[256], path[4096], version[32], *sql;
	const char	*params[1];
	PGconn		*c;
	PGresult	*res;
	size_t		 n = 0, i, vlen;
	int		 rc = 0, done = 0;

	if (argc == 3 && strcmp(argv[1], "--sql-dir") == 0)
		sql_dir = argv[2];
	else if (argc != 1)
		usage();
	if ((d = opendir(sql_dir)) == NULL) {
		ctl_warn("%s: %s\n", sql_dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		size_t len = strlen(de->d_name);

		if (len > 4 && de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    strcmp(de->d_name + len - 4, ".sql") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	if ((c = owner_connect()) == NULL)
		return 1;
	for (i = 0; i < n && rc == 0; i++) {
		vlen = strspn(names[i], "0123456789");
		(void)snprintf(version, sizeof(version), "%.*s", (int)vlen,
		    names[i]);
		(void)snprintf(path, sizeof(path), "%s/%s", sql_dir, names[i]);
		if (exec_ok(c, "BEGIN", "begin") == -1 ||
		    exec_ok(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")",
		    "lock") == -1) {
			rc = 1;
			break;
		}
		if (applied(c, version)) {
			(void)exec_ok(c, "ROLLBACK", "rollback");
			continue;
		}
		if ((sql = slurp(path)) == NULL ||
		    exec_ok(c, sql, names[i]) == -1) {
			free(sql);
			(void)exec_ok(c, "ROLLBACK", "rollback");
			rc = 1;
			break;
		}
		free(sql);
		params[0] = version;
		res = PQexecParams(c, "INSERT INTO schema_migrations (version)"
		    " VALUES ($1)", 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			ctl_warn("recording %s: %s", version,
			    PQerrorMessage(c));
			rc = 1;
		}
		PQclear(res);
		if (rc != 0 || exec_ok(c, "COMMIT", "commit") == -1) {
			(void)exec_ok(c, "ROLLBACK", "rollback");
			rc = 1;
			break;
		}
		printf("applied %s\n", names[i]);
		done++;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	PQfinish(c);
	if (rc == 0)
		printf("%d migration%s applied; schema is current\n", done,
		    done == 1 ? "" : "s");
	return rc;
}

static int
cmd_check_config(int argc, char **argv)
{
	char	*cause = NULL;

	(void)argv;
	if (argc != 1)
		usage();
	if (conf_load_secrets(conf, geteuid(), &cause) == -1) {
		ctl_warn("%s\n", cause ? cause : "out of memory");
		free(cause);
		return 1;
	}
	printf("%s: configuration OK\n", conf->path);
	return 0;
}

/* Secrets and services for the commands that act like a worker. */
static int
ctl_secrets(void)
{
	char	*cause = NULL;

	if (conf_load_secrets(conf, geteuid(), &cause) == -1) {
		ctl_warn("%s\n", cause ? cause : "out of memory");
		free(cause);
		return -1;
	}
	return 0;
}

/* A row id as the command line gives it: 1 to 18 digits. */
static int
ctl_id_valid(const char *s)
{
	size_t	n = strlen(s);

	return n >= 1 && n <= 18 && strspn(s, "0123456789") == n;
}

/* Canonicalizes an email argument; a malformed one is a usage error. */
static int
ctl_email(const char *in, char *out, size_t outsize)
{
	if (email_canonicalize(in, out, outsize) == -1)
		ctl_bad_arg("%s: not a valid email address", in);
	return 0;
}

/*
 * Reads a password from standard input: one line when it is not a
 * terminal (scripts), else a prompt with echo off.  Never from the
 * command line, where ps(1) and shell history would show it.
 */
static int
read_password(char *buf, size_t size)
{
	struct termios	 t, quiet;
	int		 tty = isatty(STDIN_FILENO), ok;
	size_t		 n;

	if (tty) {
		fprintf(stderr, "Password: ");
		if (tcgetattr(STDIN_FILENO, &t) == -1)
			return -1;
		quiet = t;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ok = fgets(buf, (int)size, stdin) != NULL;
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -1;
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == size - 1)
		return -1;	/* longer than the buffer */
	buf[n] = '\0';
	return 0;
}

static int
user_add(int argc, char **argv)
{
	const char	*params[4], *advice, *name = NULL;
	char		 email[256], pw[1100], hash[CRYPT_OUTPUT_SIZE], local[80];
	PGconn		*c;
	PGresult	*res;
	int		 i, admin = 0, rc;

	if (argc < 3)
		usage();
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--admin") == 0)
			admin = 1;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else
			usage();
	}
	if (ctl_email(argv[2], email, sizeof(email)) == -1 ||
	    ctl_secrets() == -1)
		return 1;
	if (password_init() == -1) {
		ctl_warn("the password dictionary is missing "
		    "(install cracklib-runtime)\n");
		return 1;
	}
	if (read_password(pw, sizeof(pw)) == -1) {
		ctl_warn("no password read\n");
		return 1;
	}
	rc = password_check_strength(pw, strlen(pw), email, &advice);
	if (rc != 0) {
		explicit_bzero(pw, sizeof(pw));
		ctl_warn("weak password: %s\n",
		    rc == -1 ? advice : "the strength check failed");
		return rc == -1 ? CTL_REFUSED : CTL_FAIL;
	}
	rc = password_hash(pw, strlen(pw), hash, sizeof(hash));
	explicit_bzero(pw, sizeof(pw));
	if (rc == -1) {
		ctl_warn("hashing failed\n");
		return 1;
	}
	if (name == NULL) {
		(void)snprintf(local, sizeof(local), "%.*s",
		    (int)strcspn(email, "@"), email);
		name = local;
	}
	if ((c = owner_connect()) == NULL)
		return 1;
	params[0] = email;
	params[1] = hash;
	params[2] = name;
	params[3] = admin ? "admin" : "user";
	/* The owner's rights: the runtime role cannot choose a role. */
	res = PQexecParams(c, "INSERT INTO users (email, password_hash,"
	    " full_name, role) VALUES ($1, $2, $3, $4)"
	    " ON CONFLICT (email) DO NOTHING RETURNING id", 4, NULL, params,
	    NULL, NULL, 0);
	explicit_bzero(hash, sizeof(hash));
	rc = 1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		ctl_warn("%s", PQerrorMessage(c));
	else if (PQntuples(res) != 1) {
		ctl_warn("%s is already registered\n", email);
		rc = CTL_REFUSED;
	} else {
		printf("added %s %s (id %s)\n", admin ? "admin" : "user", email,
		    PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	PQfinish(c);
	return rc;
}

static int
user_list(void)
{
	PGconn		*c;
	PGresult	*res;
	int		 i;

	if ((c = owner_connect()) == NULL)
		return 1;
	res = PQexec(c, "SELECT id, email, role, full_name,"
	    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    " FROM users ORDER BY id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_warn("%s", PQerrorMessage(c));
		PQclear(res);
		PQfinish(c);
		return 1;
	}
	printf("%-8s %-40s %-6s %-20s %s\n", "ID", "EMAIL", "ROLE",
	    "CREATED", "NAME");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-8s %-40s %-6s %-20s %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 3));
	PQclear(res);
	PQfinish(c);
	return 0;
}

static int
cmd_user(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return user_add(argc, argv);
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return user_list();
	usage();
}

static int
cmd_unlock(int argc, char **argv)
{
	char	email[256];

	if (argc != 2)
		usage();
	if (ctl_email(argv[1], email, sizeof(email)) == -1)
		return 1;
	if (kv_init() == -1 || lockout_clear(email) == -1) {
		ctl_warn("Redis is not reachable\n");
		return 1;
	}
	printf("unlocked %s\n", email);
	return 0;
}

/*
 * The incident tool: every token and API key of the user stops working at
 * once.  The generation bump and the revocation of every refresh family
 * and key are one statement; the cached generation is then dropped.
 */
static int
cmd_revoke_sessions(int argc, char **argv)
{
	const char	*params[1];
	char		 email[256];
	PGconn		*c;
	PGresult	*res;
	long long	 uid;
	int		 rc;

	if (argc != 2)
		usage();
	if (ctl_email(argv[1], email, sizeof(email)) == -1)
		return 1;
	if ((c = owner_connect()) == NULL)
		return 1;
	params[0] = email;
	res = PQexecParams(c, "WITH u AS (UPDATE users SET token_generation ="
	    " token_generation + 1 WHERE email = $1 RETURNING id),"
	    " f AS (UPDATE refresh_families SET revoked_at = now(),"
	    " revoked_reason = 'revoke_sessions' WHERE user_id ="
	    " (SELECT id FROM u) AND revoked_at IS NULL),"
	    " k AS (UPDATE api_keys SET revoked_at = now() WHERE user_id ="
	    " (SELECT id FROM u) AND revoked_at IS NULL)"
	    " SELECT id FROM u", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			ctl_warn("%s", PQerrorMessage(c));
		else
			ctl_warn("no user %s\n", email);
		rc = PQresultStatus(res) != PGRES_TUPLES_OK ? CTL_FAIL :
		    CTL_REFUSED;
		PQclear(res);
		PQfinish(c);
		return rc;
	}
	uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	if (kv_init() == 0)
		stage_auth_forget_user(uid);
	else
		ctl_warn("warning: Redis is not reachable; "
		    "cached sessions end within a minute\n");
	printf("revoked every session and API key of %s\n", email);
	return 0;
}

/*
 * The periodic work (DESIGN.md), run every minute by the shipped timer
 * or cron line: write out the security events counted in Redis and the
 * API keys' use, score the forecasts whose horizon has passed, and the
 * alert work no worker may do (alerts_tick: per-principal rules, alerts
 * queued while PostgreSQL was down, alert_command).  Workers do the first
 * two "if due" as well, so a missed tick loses nothing.  Exits 1 when
 * PostgreSQL or Redis cannot be reached.
 */
static int
cmd_tick(int argc, char **argv)
{
	PGresult	*res = NULL;
	int		 rc = 0;

	(void)argv;
	if (argc != 1)
		usage();
	if (db_init() == -1 || kv_init() == -1) {
		ctl_warn("PostgreSQL or Redis is not "
		    "reachable\n");
		return 1;
	}
	event_flush_now();
	route_keys_flush_now();
	if (db_query(NULL, DB_FORECASTS_SCORE, NULL, &res) != AERR_OK)
		rc = 1;
	else
		printf("tick: %d forecast%s scored\n", PQntuples(res),
		    PQntuples(res) == 1 ? "" : "s");
	/* Alerts: the queued ones, the per-principal rules, alert_command. */
	if (alerts_tick(res) == -1)
		rc = 1;
	PQclear(res);
	db_close();
	kv_close();
	return rc;
}

/* Runs one owner query with text parameters; prints the rows as a table. */
static int
print_query(const char *sql, int n, const char *const *params,
    const char *header)
{
	PGconn		*c;
	PGresult	*res;
	int		 i, j, rc = 0;

	if ((c = owner_connect()) == NULL)
		return 1;
	res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_warn("%s", PQerrorMessage(c));
		rc = 1;
	} else {
		if (header != NULL)
			printf("%s\n", header);
		for (i = 0; i < PQntuples(res); i++)
			for (j = 0; j < PQnfields(res); j++)
				printf("%s%s", PQgetvalue(res, i, j),
				    j + 1 < PQnfields(res) ? "\t" : "\n");
	}
	PQclear(res);
	PQfinish(c);
	return rc;
}

/* Runs one owner statement; returns the number of rows it returned. */
static int
exec_count(const char *sql, int n, const char *const *params, int *rows)
{
	PGconn		*c;
	PGresult	*res;
	int		 rc = 0;

	if ((c = owner_connect()) == NULL)
		return 1;
	res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_warn("%s", PQerrorMessage(c));
		rc = 1;
	} else
		*rows = PQntuples(res);
	PQclear(res);
	PQfinish(c);
	return rc;
}

static int
cmd_key(int argc, char **argv)
{
	const char	*params[1];
	char		 email[256];
	int		 rows = 0;

	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc <= 3) {
		if (argc == 3 && ctl_email(argv[2], email, sizeof(email)) == -1)
			return 1;
		params[0] = argc == 3 ? email : NULL;
		return print_query("SELECT k.id, u.email, k.name, k.prefix,"
		    " array_to_string(k.scopes, ','),"
		    " CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'"
		    " WHEN k.expires_at <= now() THEN 'expired' ELSE 'live' END,"
		    " to_char(k.expires_at AT TIME ZONE 'UTC',"
		    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), k.use_count"
		    " FROM api_keys k JOIN users u ON u.id = k.user_id"
		    " WHERE $1::text IS NULL OR u.email = $1 ORDER BY k.id",
		    1, params, "ID\tEMAIL\tNAME\tPREFIX\tSCOPES\tSTATE\t"
		    "EXPIRES\tUSES");
	}
	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		params[0] = argv[2];
		if (!ctl_id_valid(argv[2]))
			ctl_bad_arg("%s: not a key id", argv[2]);
		if (exec_count("UPDATE api_keys SET revoked_at = now()"
		    " WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id",
		    1, params, &rows) != 0)
			return 1;
		if (rows != 1) {
			ctl_warn("no live key %s\n", argv[2]);
			return CTL_REFUSED;
		}
		printf("revoked key %s\n", argv[2]);
		return 0;
	}
	usage();
}

/* Tells every worker to reload its copy of the block list. */
static void
blocks_changed(void)
{
	const char	*argv[2] = { "INCR", "aspida:blocks:ver" };

	if (kv_init() == -1) {
		ctl_warn("warning: Redis is not reachable; "
		    "workers pick the change up within a minute\n");
		return;
	}
	freeReplyObject(kv_command(NULL, 2, argv, NULL));
}

static int
cmd_ip(int argc, char **argv)
{
	const char	*params[3], *reason = "blocked by aspidactl";
	char		 mins[24] = "", text[80];
	struct cidr	 cidr;
	int		 i, rows = 0;
	long long	 m;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return print_query("SELECT id, cidr, reason, created_by,"
		    " CASE WHEN automatic THEN 'auto' ELSE 'manual' END,"
		    " coalesce(to_char(expires_at AT TIME ZONE 'UTC',"
		    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never')"
		    " FROM ip_blocks WHERE expires_at IS NULL OR"
		    " expires_at > now() ORDER BY id", 0, NULL,
		    "ID\tCIDR\tREASON\tBY\tKIND\tEXPIRES");
	if (argc >= 3 && strcmp(argv[1], "block") == 0) {
		if (cidr_parse(argv[2], &cidr) == -1)
			ctl_bad_arg("%s: not an address or CIDR block",
			    argv[2]);
		for (i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--minutes") == 0 && i + 1 < argc) {
				i++;
				m = strspn(argv[i], "0123456789") ==
				    strlen(argv[i]) && strlen(argv[i]) <= 6 ?
				    strtoll(argv[i], NULL, 10) : -1;
				if (m < 1 || m > 525600)
					ctl_bad_arg("--minutes %s: from 1 to "
					    "525600", argv[i]);
				(void)snprintf(mins, sizeof(mins), "%lld", m);
			} else if (strcmp(argv[i], "--reason") == 0 &&
			    i + 1 < argc)
				reason = argv[++i];
			else
				usage();
		}
		/* Host bits are masked: 192.0.2.1/24 blocks 192.0.2.0/24. */
		if (ipaddr_format(&cidr.net, text, sizeof(text)) == -1)
			return 1;
		(void)snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "/%d", cidr.prefix);
		params[0] = text;
		params[1] = reason;
		params[2] = mins[0] ? mins : NULL;
		if (exec_count("INSERT INTO ip_blocks (cidr, reason, expires_at,"
		    " created_by) VALUES ($1::cidr, $2, CASE WHEN $3::int IS"
		    " NULL THEN NULL ELSE now() + make_interval(mins =>"
		    " $3::int) END, 'aspidactl') RETURNING id", 3, params,
		    &rows) != 0)
			return 1;
		blocks_changed();
		printf("blocked %s\n", text);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "unblock") == 0) {
		params[0] = argv[2];
		if (!ctl_id_valid(argv[2]))
			ctl_bad_arg("%s: not a block id", argv[2]);
		/* Ended, not deleted: the table keeps the history. */
		if (exec_count("UPDATE ip_blocks SET expires_at = now()"
		    " WHERE id = $1::bigint AND (expires_at IS NULL OR"
		    " expires_at > now()) RETURNING id", 1, params, &rows) != 0)
			return 1;
		if (rows != 1) {
			ctl_warn("no active block %s\n", argv[2]);
			return CTL_REFUSED;
		}
		blocks_changed();
		printf("unblocked %s\n", argv[2]);
		return 0;
	}
	usage();
}

/*
 * One chunk of the CSV file: a batch as POST /ingest/prices takes it,
 * and the malformed lines met meanwhile, reported with it in line order.
 */
struct import_chunk {
	struct ingest_point	 points[INGEST_BATCH_MAX];
	unsigned long		 line[INGEST_BATCH_MAX];
	size_t			 n;
	unsigned long		 bad[INGEST_BATCH_MAX];
	const char		*badwhy[INGEST_BATCH_MAX];
	size_t			 nbad;
};

struct import_totals {
	size_t			 accepted;
	size_t			 adopted;
	size_t			 rejected;
};

/* A source name as aspida.conf and the sources table take it. */
static int
import_source_valid(const char *s)
{
	size_t	 n = strlen(s);

	return n >= 1 && n <= 32 && s[0] != '_' && s[0] != '-' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/*
 * Judges and stores one chunk under a request id of its own, then prints
 * its rejected lines and new levels.  Returns 0, or -1 (reported) when
 * nothing of the chunk could be stored.
 */
static int
import_flush(struct req *r, const char *source, struct import_chunk *ch,
    struct import_totals *t)
{
	struct ingest_result	 res;
	const struct ingest_asset *a;
	char			 ts[32];
	size_t			 i, j = 0;
	enum aerr		 e;

	memset(&res, 0, sizeof(res));
	req_new_id(r->id);
	if (ch->n > 0 && (e = ingest_store_batch(r, source, ch->points, ch->n,
	    &res)) != AERR_OK) {
		ctl_warn("lines %lu to %lu: %s; the lines "
		    "before them are stored\n", ch->line[0],
		    ch->line[ch->n - 1], e == AERR_UNAVAILABLE ? "the database "
		    "did not answer in time" : e == AERR_BUSY ? "other batches "
		    "kept changing the same assets" : "the database refused "
		    "the batch");
		return -1;
	}
	for (i = 0; i <= ch->n; i++) {
		for (; j < ch->nbad && (i == ch->n || ch->bad[j] < ch->line[i]);
		    j++) {
			printf("line %lu: malformed (%s)\n", ch->bad[j],
			    ch->badwhy[j]);
			t->rejected++;
		}
		if (i == ch->n || res.verdicts[i].reason == INGEST_ACCEPTED)
			continue;
		printf("line %lu: %s\n", ch->line[i],
		    ingest_reasons[res.verdicts[i].reason]);
		t->rejected++;
	}
	for (i = 0; i < res.nassets; i++) {
		a = &res.assets[i];
		if (!a->reanchored)
			continue;
		timestamp_format(a->anchor_ts, ts, sizeof(ts));
		printf("warning: %s: a new price level from %s was accepted\n",
		    a->id, ts);
	}
	t->accepted += res.accepted;
	t->adopted += res.adopted;
	ch->n = ch->nbad = 0;
	arena_reset(r->arena);
	return 0;
}

/*
 * import-prices FILE.csv --source NAME: a batch load through exactly the
 * checks a signed feed passes (ingest_store.c), connected as the runtime
 * role (db_conninfo) with its deadlines, in chunks of INGEST_BATCH_MAX
 * points, each one transaction under a request id of its own.  The file
 * is "asset_id,ts,price" with that header line, one point a line, no
 * quoting; blank lines are skipped.  Prints each rejected line with its
 * reason, then the totals.  Exit status: 0 when every line was stored, 3
 * when some were rejected, 1 on an error (the chunks before it are stored;
 * loading the file again rejects them as duplicates).
 */
static int
cmd_import_prices(int argc, char **argv)
{
	struct import_chunk	*ch;
	struct import_totals	 t;
	struct ingest_point	*p;
	struct req		 rq;
	struct req_io		 io;
	struct arena		*ar;
	const char		*file = NULL, *source = NULL;
	char			 buf[258], *s, *c1, *c2;
	unsigned long		 lineno = 0;
	size_t			 len;
	FILE			*f;
	int			 i, ch0, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
			source = argv[++i];
		else if (file == NULL && argv[i][0] != '-')
			file = argv[i];
		else
			usage();
	}
	if (file == NULL || source == NULL)
		usage();
	if (!import_source_valid(source))
		ctl_bad_arg("%s: a source name is 1 to 32 of a-z, 0-9, '_' "
		    "and '-', not starting with '_' or '-'", source);
	if ((f = fopen(file, "re")) == NULL) {
		ctl_warn("%s: %s\n", file, strerror(errno));
		return 1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL ||
	    (buf[strcspn(buf, "\r\n")] = '\0', strcmp(buf,
	    "asset_id,ts,price") != 0)) {
		ctl_warn("%s: the first line must be "
		    "\"asset_id,ts,price\"\n", file);
		fclose(f);
		return 1;
	}
	lineno = 1;
	crypto_init();
	if (db_init() == -1) {
		ctl_warn("cannot connect to the database as "
		    "db_conninfo says\n");
		fclose(f);
		return 1;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		ctl_warn("out of memory\n");
		fclose(f);
		return 1;
	}
	memset(&t, 0, sizeof(t));
	memset(&io, 0, sizeof(io));
	ar = arena_new();
	req_init(&rq, ar, &io);

	while (fgets(buf, sizeof(buf), f) != NULL) {
		lineno++;
		len = strlen(buf);
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (!feof(f)) {
			while ((ch0 = fgetc(f)) != EOF && ch0 != '\n')
				continue;
			ch->bad[ch->nbad] = lineno;
			ch->badwhy[ch->nbad++] = "longer than 256 bytes";
			if (ch->nbad == INGEST_BATCH_MAX &&
			    import_flush(&rq, source, ch, &t) == -1)
				goto done;
			continue;
		}
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len == 0)
			continue;
		if ((c1 = strchr(buf, ',')) == NULL ||
		    (c2 = strchr(c1 + 1, ',')) == NULL ||
		    strchr(c2 + 1, ',') != NULL) {
			ch->bad[ch->nbad] = lineno;
			ch->badwhy[ch->nbad++] = "asset_id,ts,price expected";
			if (ch->nbad == INGEST_BATCH_MAX &&
			    import_flush(&rq, source, ch, &t) == -1)
				goto done;
			continue;
		}
		s = arena_strndup(ar, buf, len);
		p = &ch->points[ch->n];
		memset(p, 0, sizeof(*p));
		p->asset = s;
		p->asset_len = (size_t)(c1 - buf);
		p->has_ts = timestamp_parse(s + (c1 - buf) + 1,
		    (size_t)(c2 - c1 - 1), &p->ts) == 0;
		p->price = s + (c2 - buf) + 1;
		p->price_len = len - (size_t)(c2 - buf) - 1;
		ch->line[ch->n++] = lineno;
		if (ch->n == INGEST_BATCH_MAX &&
		    import_flush(&rq, source, ch, &t) == -1)
			goto done;
	}
	if (ferror(f)) {
		ctl_warn("%s: read error after line %lu; the "
		    "lines before it are stored\n", file, lineno);
		goto done;
	}
	if (import_flush(&rq, source, ch, &t) == -1)
		goto done;
	printf("accepted %zu, rejected %zu", t.accepted, t.rejected);
	if (t.adopted > 0)
		printf(", and %zu earlier outlier%s stored with a new level",
		    t.adopted, t.adopted == 1 ? "" : "s");
	printf("\n");
	rc = t.rejected > 0 ? 3 : 0;
done:
	fclose(f);
	free(ch);
	arena_free(ar);
	db_close();
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL;
	char		*cause = NULL;
	int		 ch, i;

	while ((ch = getopt_long(argc, argv, "+f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'h':
			ctl_help_all();
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();

	/* Help and usage errors need no configuration. */
	if (strcmp(argv[0], "help") == 0) {
		if (argc == 1)
			ctl_help_all();
		if (argc == 2 && (ctl_current = ctl_find(argv[1])) != NULL)
			ctl_help_cmd(ctl_current);
		if (argc == 2) {
			fprintf(stderr, "aspidactl: help: %s: no such command\n",
			    argv[1]);
			usage();
		}
		fprintf(stderr, "aspidactl: help: one command at most\n");
		usage();
	}
	if ((ctl_current = ctl_find(argv[0])) == NULL) {
		fprintf(stderr, "aspidactl: %s: no such command\n", argv[0]);
		usage();
	}
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			ctl_help_cmd(ctl_current);

	if ((sql_dir = getenv("ASPIDA_SQL_DIR")) == NULL)
		sql_dir = DATADIR "/sql";
	log_init("aspidactl", 1, LOG_DAEMON);
	path = conf_default_path(path);
	if ((conf = conf_load(path, &cause)) == NULL) {
		ctl_warn("%s\n", cause ? cause : "out of memory");
		free(cause);
		return CTL_FAIL;
	}
	return ctl_current->fn(argc, argv);
}

/*
 * The options of events and alerts: --type (events only), --since (RFC
 * 3339), --limit (1 to 1000, default 100).  A bad one exits 2.
 */
static void
list_options(int argc, char **argv, int typed, const char **type,
    char *since, size_t ssize, char *limit, size_t lsize)
{
	long long	 v;
	int		 i;

	*type = NULL;
	since[0] = '\0';
	(void)snprintf(limit, lsize, "100");
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (typed && strcmp(argv[i], "--type") == 0) {
			*type = argv[++i];
			if (**type == '\0' || strlen(*type) > 64 ||
			    strspn(*type, "abcdefghijklmnopqrstuvwxyz"
			    "0123456789_") != strlen(*type))
				ctl_bad_arg("--type is an event kind, "
				    "e.g. login_failure");
		} else if (strcmp(argv[i], "--since") == 0) {
			i++;
			if (timestamp_parse(argv[i], strlen(argv[i]), &v) == -1)
				ctl_bad_arg("--since is an RFC 3339 time, "
				    "e.g. 2026-01-02T03:04:05Z");
			(void)snprintf(since, ssize, "%lld", v);
		} else if (strcmp(argv[i], "--limit") == 0) {
			i++;
			v = strspn(argv[i], "0123456789") == strlen(argv[i]) &&
			    strlen(argv[i]) <= 4 ? strtoll(argv[i], NULL, 10) :
			    -1;
			if (v < 1 || v > 1000)
				ctl_bad_arg("--limit is 1 to 1000");
			(void)snprintf(limit, lsize, "%lld", v);
		} else
			usage();
	}
}

/* The security events, newest first. */
static int
cmd_events(int argc, char **argv)
{
	const char	*params[3], *type;
	char		 since[24], limit[24];

	list_options(argc, argv, 1, &type, since, sizeof(since), limit,
	    sizeof(limit));
	params[0] = type;
	params[1] = since[0] ? since : NULL;
	params[2] = limit;
	return print_query("SELECT id, to_char(ts AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), kind, severity,"
	    " coalesce(host(client_ip), '-'), coalesce(principal, '-'),"
	    " coalesce(route, '-'), count, coalesce(details::text, '-')"
	    " FROM security_events WHERE ($1::text IS NULL OR kind = $1)"
	    " AND ts >= coalesce(to_timestamp($2::bigint), '-infinity')"
	    " ORDER BY ts DESC, id DESC LIMIT $3::int", 3, params,
	    "ID\tTS\tTYPE\tSEVERITY\tCLIENT\tPRINCIPAL\tROUTE\tCOUNT\tDETAILS");
}

/* The alerts, newest first. */
static int
cmd_alerts(int argc, char **argv)
{
	const char	*params[2], *type;
	char		 since[24], limit[24];

	list_options(argc, argv, 0, &type, since, sizeof(since), limit,
	    sizeof(limit));
	params[0] = since[0] ? since : NULL;
	params[1] = limit;
	return print_query("SELECT id, to_char(ts AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), kind, severity,"
	    " coalesce(subject, '-'), coalesce(value::text, '-'),"
	    " coalesce(threshold::text, '-'), window_seconds"
	    " FROM alerts"
	    " WHERE ts >= coalesce(to_timestamp($1::bigint), '-infinity')"
	    " ORDER BY ts DESC, id DESC LIMIT $2::int", 2, params,
	    "ID\tTS\tKIND\tSEVERITY\tSUBJECT\tVALUE\tTHRESHOLD\tWINDOW");
}
