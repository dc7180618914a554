/*
 * aspidactl: the administrator's tool.  This file holds the command
 * table and the commands the foundation needs: migrate (apply pending
 * schema migrations, each in its own transaction, under an advisory lock
 * so two migrators cannot interleave) and check-config.  Later work adds
 * users, keys, ip blocks, events, alerts, import and tick as rows.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
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

struct ctl_cmd {
	const char	*name;
	const char	*usage;
	int		(*fn)(int, char **);
};

static const char *sql_dir;

static int	cmd_migrate(int, char **);
static int	cmd_check_config(int, char **);
static int	cmd_user(int, char **);
static int	cmd_unlock(int, char **);
static int	cmd_revoke_sessions(int, char **);
static int	cmd_key(int, char **);
static int	cmd_ip(int, char **);

static const struct ctl_cmd cmds[] = {
	{ "migrate", "migrate [--sql-dir DIR]", cmd_migrate },
	{ "check-config", "check-config", cmd_check_config },
	{ "user", "user add EMAIL [--admin] [--name NAME] | user list",
	    cmd_user },
	{ "unlock", "unlock EMAIL", cmd_unlock },
	{ "revoke-sessions", "revoke-sessions EMAIL", cmd_revoke_sessions },
	{ "key", "key list [EMAIL] | key revoke ID", cmd_key },
	{ "ip", "ip block CIDR [--minutes N] [--reason TEXT] | ip unblock ID | "
	    "ip list", cmd_ip },
};

static void __attribute__((noreturn)) usage(void);

static void
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: aspidactl [-f file] command [args]\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "\taspidactl %s\n", cmds[i].usage);
	exit(2);
}

static PGconn *
owner_connect(void)
{
	PGconn	*c = PQconnectdb(conf->db_owner_conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "aspidactl: cannot connect to the database: %s",
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
		fprintf(stderr, "aspidactl: %s: %s", what, PQerrorMessage(c));
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
		fprintf(stderr, "aspidactl: %s: %s\n", path,
		    f ? "too large" : strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	if ((s = calloc(1, (size_t)st.st_size + 1)) == NULL ||
	    fread(s, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "aspidactl: %s: read error\n", path);
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
		fprintf(stderr, "aspidactl: %s: %s\n", sql_dir, strerror(errno));
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
			fprintf(stderr, "aspidactl: recording %s: %s", version,
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
		fprintf(stderr, "aspidactl: %s\n", cause ? cause : "out of memory");
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
		fprintf(stderr, "aspidactl: %s\n", cause ? cause : "out of memory");
		free(cause);
		return -1;
	}
	return 0;
}

static int
ctl_email(const char *in, char *out, size_t outsize)
{
	if (email_canonicalize(in, out, outsize) == -1) {
		fprintf(stderr, "aspidactl: %s: not a valid email address\n", in);
		return -1;
	}
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
		fprintf(stderr, "aspidactl: the password dictionary is missing "
		    "(install cracklib-runtime)\n");
		return 1;
	}
	if (read_password(pw, sizeof(pw)) == -1) {
		fprintf(stderr, "aspidactl: no password read\n");
		return 1;
	}
	rc = password_check_strength(pw, strlen(pw), email, &advice);
	if (rc != 0) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "aspidactl: weak password: %s\n",
		    rc == -1 ? advice : "the strength check failed");
		return 1;
	}
	rc = password_hash(pw, strlen(pw), hash, sizeof(hash));
	explicit_bzero(pw, sizeof(pw));
	if (rc == -1) {
		fprintf(stderr, "aspidactl: hashing failed\n");
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
		fprintf(stderr, "aspidactl: %s", PQerrorMessage(c));
	else if (PQntuples(res) != 1)
		fprintf(stderr, "aspidactl: %s is already registered\n", email);
	else {
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
		fprintf(stderr, "aspidactl: %s", PQerrorMessage(c));
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
		fprintf(stderr, "aspidactl: Redis is not reachable\n");
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
			fprintf(stderr, "aspidactl: %s", PQerrorMessage(c));
		else
			fprintf(stderr, "aspidactl: no user %s\n", email);
		PQclear(res);
		PQfinish(c);
		return 1;
	}
	uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	if (kv_init() == 0)
		stage_auth_forget_user(uid);
	else
		fprintf(stderr, "aspidactl: warning: Redis is not reachable; "
		    "cached sessions end within a minute\n");
	printf("revoked every session and API key of %s\n", email);
	return 0;
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
		fprintf(stderr, "aspidactl: %s", PQerrorMessage(c));
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
		fprintf(stderr, "aspidactl: %s", PQerrorMessage(c));
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
		if (strspn(argv[2], "0123456789") != strlen(argv[2]) ||
		    *argv[2] == '\0') {
			fprintf(stderr, "aspidactl: %s: not a key id\n", argv[2]);
			return 1;
		}
		if (exec_count("UPDATE api_keys SET revoked_at = now()"
		    " WHERE id = $1::bigint AND revoked_at IS NULL RETURNING id",
		    1, params, &rows) != 0)
			return 1;
		if (rows != 1) {
			fprintf(stderr, "aspidactl: no live key %s\n", argv[2]);
			return 1;
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
		fprintf(stderr, "aspidactl: warning: Redis is not reachable; "
		    "workers pick the change up within a minute\n");
		return;
	}
	freeReplyObject(kv_command(NULL, 2, argv, NULL));
}

static int
cmd_ip(int argc, char **argv)
{
	const char	*params[3], *reason = "blocked by aspidactl";
	char		 mins[24] = "";
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
		if (cidr_parse(argv[2], &cidr) == -1) {
			fprintf(stderr, "aspidactl: %s: not a CIDR block\n",
			    argv[2]);
			return 1;
		}
		for (i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--minutes") == 0 && i + 1 < argc) {
				m = strtoll(argv[++i], NULL, 10);
				if (m < 1 || m > 525600) {
					fprintf(stderr, "aspidactl: --minutes "
					    "is 1 to 525600\n");
					return 1;
				}
				(void)snprintf(mins, sizeof(mins), "%lld", m);
			} else if (strcmp(argv[i], "--reason") == 0 &&
			    i + 1 < argc)
				reason = argv[++i];
			else
				usage();
		}
		params[0] = argv[2];
		params[1] = reason;
		params[2] = mins[0] ? mins : NULL;
		if (exec_count("INSERT INTO ip_blocks (cidr, reason, expires_at,"
		    " created_by) VALUES ($1::cidr, $2, CASE WHEN $3::int IS"
		    " NULL THEN NULL ELSE now() + make_interval(mins =>"
		    " $3::int) END, 'aspidactl') RETURNING id", 3, params,
		    &rows) != 0)
			return 1;
		blocks_changed();
		printf("blocked %s\n", argv[2]);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "unblock") == 0) {
		params[0] = argv[2];
		if (strspn(argv[2], "0123456789") != strlen(argv[2]) ||
		    *argv[2] == '\0') {
			fprintf(stderr, "aspidactl: %s: not a block id\n",
			    argv[2]);
			return 1;
		}
		/* Ended, not deleted: the table keeps the history. */
		if (exec_count("UPDATE ip_blocks SET expires_at = now()"
		    " WHERE id = $1::bigint AND (expires_at IS NULL OR"
		    " expires_at > now()) RETURNING id", 1, params, &rows) != 0)
			return 1;
		if (rows != 1) {
			fprintf(stderr, "aspidactl: no active block %s\n",
			    argv[2]);
			return 1;
		}
		blocks_changed();
		printf("unblocked %s\n", argv[2]);
		return 0;
	}
	usage();
}

int
main(int argc, char *argv[])
{
	const char	*path = NULL;
	char		*cause = NULL;
	size_t		 i;
	int		 ch;

	while ((ch = getopt(argc, argv, "+f:")) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if ((sql_dir = getenv("ASPIDA_SQL_DIR")) == NULL)
		sql_dir = DATADIR "/sql";
	log_init("aspidactl", 1, LOG_DAEMON);
	path = conf_default_path(path);
	if ((conf = conf_load(path, &cause)) == NULL) {
		fprintf(stderr, "aspidactl: %s\n", cause ? cause : "out of memory");
		return 1;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			return cmds[i].fn(argc, argv);
	usage();
}
