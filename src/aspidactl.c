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
#include <unistd.h>

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

static const struct ctl_cmd cmds[] = {
	{ "migrate", "migrate [--sql-dir DIR]", cmd_migrate },
	{ "check-config", "check-config", cmd_check_config },
};

static void __attribute__((noreturn))
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
