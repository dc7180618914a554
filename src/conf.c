/*
 * conf.c - aspida.conf: the options table that gives every key its type,
 * bounds and default, the parser that reads the file against it, and the
 * secret files the configuration names.
 *
 * One table drives everything, as tmux's options_table does: defaults are
 * set from it before the file is read (through the same code as a value
 * from the file, so a bad default cannot slip in), the parser looks keys up
 * in it, and conf_free() walks it to release what was allocated.  A new key
 * is one row.  Repeated things are blocks ("source NAME { ... }") with a
 * table of their own.
 *
 * The parser is strict rather than forgiving: a typo in a security setting
 * must stop start-up, not fall back to a default.  Every error reads
 * "PATH:LINE: reason" and is handed back through *cause; nothing here
 * prints.  Secrets never live in the file: it names files that must be
 * private to the user aspida runs as (secret_file_read()).
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aspida.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

#define CONF_LINE_MAX	4096		/* bytes in a line, newline excluded */
#define CONF_FILE_MAX	(1024 * 1024)
#define CONF_KEY_MAX	64
#define CONF_SOURCE_NAME_MAX 32
#define CONF_SECRET_MIN	32
#define CONF_MSG_MAX	512

#define CONF_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define CONF_OFF(f)	offsetof(struct conf, f)
#define SOURCE_OFF(f)	offsetof(struct conf_source, f)

struct conf	*conf = NULL;

/*
 * One row per key.  offset locates the field in struct conf (or, for block
 * keys, struct conf_source); the field's C type follows from the type:
 * CONF_STRING char * (never NULL once loaded), CONF_INT long long,
 * CONF_BOOL and CONF_ENUM int (an enum stores the index of its choice),
 * CONF_CIDRS struct cidr_list, CONF_LIST char ** with a size_t count at
 * offset count, CONF_DECIMAL double within [dmin, dmax].  def is written
 * as it would be in the file.
 */
struct conf_option {
	const char		*name;
	enum conf_type		 type;
	size_t			 offset;
	size_t			 count;		/* CONF_LIST */
	long long		 min;		/* CONF_INT */
	long long		 max;
	double			 dmin;		/* CONF_DECIMAL */
	double			 dmax;
	const char		*def;
	const char *const	*choices;	/* CONF_ENUM, NULL-terminated */
	int			(*check)(const char *, char *, size_t);
	int			 required;	/* given, and not empty */
};

static int	conf_check_origin(const char *, char *, size_t);
static int	conf_check_kid(const char *, char *, size_t);
static int	conf_check_kid_required(const char *, char *, size_t);
static int	conf_check_redis_user(const char *, char *, size_t);

static const char *const conf_redis_failure[] = { "closed", "open", NULL };

static const struct conf_option conf_options[] = {
	/* process */
	{ .name = "listen", .type = CONF_STRING,
	  .offset = CONF_OFF(listen), .def = "" },
	{ .name = "workers", .type = CONF_INT,
	  .offset = CONF_OFF(workers), .min = 1, .max = 256, .def = "4" },
	{ .name = "max_requests_per_worker", .type = CONF_INT,
	  .offset = CONF_OFF(max_requests_per_worker),
	  .min = 0, .max = 1000000000, .def = "0" },
	{ .name = "shutdown_timeout", .type = CONF_INT,
	  .offset = CONF_OFF(shutdown_timeout), .min = 1, .max = 3600,
	  .def = "30" },
	{ .name = "memory_limit_mb", .type = CONF_INT,
	  .offset = CONF_OFF(memory_limit_mb), .min = 0, .max = 65536,
	  .def = "512" },
	{ .name = "sandbox", .type = CONF_BOOL,
	  .offset = CONF_OFF(sandbox), .def = "yes" },
	{ .name = "log_file", .type = CONF_STRING,
	  .offset = CONF_OFF(log_file), .def = "" },
	{ .name = "log_verbose", .type = CONF_BOOL,
	  .offset = CONF_OFF(log_verbose), .def = "no" },

	/* PostgreSQL */
	{ .name = "db_conninfo", .type = CONF_STRING,
	  .offset = CONF_OFF(db_conninfo),
	  .def = "dbname=aspida user=aspida_app" },
	{ .name = "db_owner_conninfo", .type = CONF_STRING,
	  .offset = CONF_OFF(db_owner_conninfo), .def = "dbname=aspida" },
	{ .name = "db_connect_timeout_ms", .type = CONF_INT,
	  .offset = CONF_OFF(db_connect_timeout_ms), .min = 50, .max = 60000,
	  .def = "2000" },
	{ .name = "db_query_timeout_ms", .type = CONF_INT,
	  .offset = CONF_OFF(db_query_timeout_ms), .min = 10, .max = 600000,
	  .def = "3000" },
	{ .name = "db_retry_max_ms", .type = CONF_INT,
	  .offset = CONF_OFF(db_retry_max_ms), .min = 10, .max = 600000,
	  .def = "5000" },

	/* Redis */
	{ .name = "redis_host", .type = CONF_STRING,
	  .offset = CONF_OFF(redis_host), .def = "127.0.0.1" },
	{ .name = "redis_port", .type = CONF_INT,
	  .offset = CONF_OFF(redis_port), .min = 1, .max = 65535,
	  .def = "6379" },
	{ .name = "redis_socket", .type = CONF_STRING,
	  .offset = CONF_OFF(redis_socket), .def = "" },
	{ .name = "redis_password_file", .type = CONF_STRING,
	  .offset = CONF_OFF(redis_password_file), .def = "" },
	{ .name = "redis_user", .type = CONF_STRING,
	  .offset = CONF_OFF(redis_user), .check = conf_check_redis_user,
	  .def = "" },
	{ .name = "redis_connect_timeout_ms", .type = CONF_INT,
	  .offset = CONF_OFF(redis_connect_timeout_ms), .min = 10,
	  .max = 60000, .def = "500" },
	{ .name = "redis_timeout_ms", .type = CONF_INT,
	  .offset = CONF_OFF(redis_timeout_ms), .min = 10, .max = 60000,
	  .def = "250" },
	{ .name = "redis_failure", .type = CONF_ENUM,
	  .offset = CONF_OFF(redis_failure_open),
	  .choices = conf_redis_failure, .def = "closed" },

	/* request limits */
	{ .name = "max_body_bytes", .type = CONF_INT,
	  .offset = CONF_OFF(max_body_bytes), .min = 1024, .max = 16777216,
	  .def = "65536" },
	{ .name = "ingest_max_body_bytes", .type = CONF_INT,
	  .offset = CONF_OFF(ingest_max_body_bytes), .min = 1024,
	  .max = 16777216, .def = "262144" },
	{ .name = "retry_after_unavailable", .type = CONF_INT,
	  .offset = CONF_OFF(retry_after_unavailable), .min = 1, .max = 3600,
	  .def = "5" },
	{ .name = "prices_default_limit", .type = CONF_INT,
	  .offset = CONF_OFF(prices_default_limit), .min = 1, .max = 100000,
	  .def = "100" },
	{ .name = "prices_max_limit", .type = CONF_INT,
	  .offset = CONF_OFF(prices_max_limit), .min = 1, .max = 100000,
	  .def = "1000" },
	{ .name = "prices_anonymous_max_limit", .type = CONF_INT,
	  .offset = CONF_OFF(prices_anonymous_max_limit), .min = 1,
	  .max = 100000, .def = "100" },

	/* addresses */
	{ .name = "trusted_proxies", .type = CONF_CIDRS,
	  .offset = CONF_OFF(trusted_proxies), .def = "" },
	{ .name = "admin_allow_ips", .type = CONF_CIDRS,
	  .offset = CONF_OFF(admin_allow_ips), .def = "127.0.0.1, ::1" },
	{ .name = "metrics_allow_ips", .type = CONF_CIDRS,
	  .offset = CONF_OFF(metrics_allow_ips), .def = "127.0.0.1, ::1" },
	{ .name = "ipv6_prefix", .type = CONF_INT,
	  .offset = CONF_OFF(ipv6_prefix), .min = 32, .max = 128,
	  .def = "64" },
	{ .name = "cors_origins", .type = CONF_LIST,
	  .offset = CONF_OFF(cors_origins), .count = CONF_OFF(ncors_origins),
	  .check = conf_check_origin, .def = "" },

	/* secrets (read by conf_load_secrets, from the conf_secrets table) */
	{ .name = "cursor_secret_file", .type = CONF_STRING,
	  .offset = CONF_OFF(cursor_secret_file), .def = "" },
	{ .name = "jwt_key_file", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_key_file), .def = "" },
	{ .name = "jwt_previous_key_file", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_previous_key_file), .def = "" },
	{ .name = "password_pepper_file", .type = CONF_STRING,
	  .offset = CONF_OFF(password_pepper_file), .def = "" },
	{ .name = "csrf_secret_file", .type = CONF_STRING,
	  .offset = CONF_OFF(csrf_secret_file), .def = "" },

	/* tokens */
	{ .name = "jwt_kid", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_kid), .def = "k1",
	  .check = conf_check_kid_required },
	{ .name = "jwt_previous_kid", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_previous_kid), .def = "",
	  .check = conf_check_kid },
	{ .name = "jwt_issuer", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_issuer), .def = "aspida" },
	{ .name = "jwt_audience", .type = CONF_STRING,
	  .offset = CONF_OFF(jwt_audience), .def = "aspida-api" },
	{ .name = "access_token_ttl", .type = CONF_INT,
	  .offset = CONF_OFF(access_token_ttl), .min = 10, .max = 86400,
	  .def = "900" },
	{ .name = "refresh_token_ttl", .type = CONF_INT,
	  .offset = CONF_OFF(refresh_token_ttl), .min = 60, .max = 31536000,
	  .def = "604800" },
	{ .name = "jwt_leeway", .type = CONF_INT,
	  .offset = CONF_OFF(jwt_leeway), .min = 0, .max = 300, .def = "30" },
	{ .name = "bind_ip", .type = CONF_BOOL,
	  .offset = CONF_OFF(bind_ip), .def = "no" },

	/* passwords, login gate and lockout */
	{ .name = "bcrypt_cost", .type = CONF_INT,
	  .offset = CONF_OFF(bcrypt_cost), .min = 4, .max = 31, .def = "12" },
	{ .name = "login_max_inflight", .type = CONF_INT,
	  .offset = CONF_OFF(login_max_inflight), .min = 1, .max = 1024,
	  .def = "1" },
	{ .name = "gate_slot_ttl", .type = CONF_INT,
	  .offset = CONF_OFF(gate_slot_ttl), .min = 1, .max = 600,
	  .def = "30" },
	{ .name = "lock_threshold", .type = CONF_INT,
	  .offset = CONF_OFF(lock_threshold), .min = 1, .max = 1000,
	  .def = "5" },
	{ .name = "lock_window", .type = CONF_INT,
	  .offset = CONF_OFF(lock_window), .min = 1, .max = 86400,
	  .def = "900" },
	{ .name = "lock_base", .type = CONF_INT,
	  .offset = CONF_OFF(lock_base), .min = 1, .max = 86400, .def = "900" },
	{ .name = "lock_max", .type = CONF_INT,
	  .offset = CONF_OFF(lock_max), .min = 1, .max = 604800,
	  .def = "86400" },
	{ .name = "lock_reset", .type = CONF_INT,
	  .offset = CONF_OFF(lock_reset), .min = 1, .max = 604800,
	  .def = "86400" },

	/* rate limits (GCRA: L per minute, burst B) and automatic blocks */
	{ .name = "rate_auth_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_AUTH]), .min = 1,
	  .max = 100000000, .def = "5" },
	{ .name = "rate_auth_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_AUTH]), .min = 1, .max = 100000000,
	  .def = "5" },
	{ .name = "rate_predict_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_PREDICT]), .min = 1,
	  .max = 100000000, .def = "10" },
	{ .name = "rate_predict_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_PREDICT]), .min = 1, .max = 100000000,
	  .def = "10" },
	{ .name = "rate_portfolio_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_PORTFOLIO]), .min = 1,
	  .max = 100000000, .def = "30" },
	{ .name = "rate_portfolio_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_PORTFOLIO]), .min = 1, .max = 100000000,
	  .def = "10" },
	{ .name = "rate_prices_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_PRICES]), .min = 1,
	  .max = 100000000, .def = "60" },
	{ .name = "rate_prices_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_PRICES]), .min = 1, .max = 100000000,
	  .def = "20" },
	{ .name = "rate_default_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_DEFAULT]), .min = 1,
	  .max = 100000000, .def = "120" },
	{ .name = "rate_default_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_DEFAULT]), .min = 1, .max = 100000000,
	  .def = "30" },
	{ .name = "rate_preauth_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(rate_per_minute[RATE_PREAUTH]), .min = 1,
	  .max = 100000000, .def = "300" },
	{ .name = "rate_preauth_burst", .type = CONF_INT,
	  .offset = CONF_OFF(rate_burst[RATE_PREAUTH]), .min = 1, .max = 100000000,
	  .def = "60" },
	{ .name = "autoblock_violations_per_hour", .type = CONF_INT,
	  .offset = CONF_OFF(autoblock_violations_per_hour), .min = 1,
	  .max = 100000000, .def = "100" },
	{ .name = "autoblock_failed_credentials_per_hour", .type = CONF_INT,
	  .offset = CONF_OFF(autoblock_failed_credentials_per_hour), .min = 1,
	  .max = 100000000, .def = "20" },
	{ .name = "autoblock_minutes", .type = CONF_INT,
	  .offset = CONF_OFF(autoblock_minutes), .min = 1, .max = 525600,
	  .def = "60" },
	{ .name = "autoblock_ignore", .type = CONF_CIDRS,
	  .offset = CONF_OFF(autoblock_ignore), .def = "127.0.0.1, ::1" },
	{ .name = "quota_daily_bytes", .type = CONF_INT,
	  .offset = CONF_OFF(quota_daily_bytes), .min = 1,
	  .max = 1000000000000LL, .def = "100000000" },
	{ .name = "quota_anonymous_daily_bytes", .type = CONF_INT,
	  .offset = CONF_OFF(quota_anonymous_daily_bytes), .min = 1,
	  .max = 1000000000000LL, .def = "10000000" },
	{ .name = "breaker_errors", .type = CONF_INT,
	  .offset = CONF_OFF(breaker_errors), .min = 1, .max = 100000,
	  .def = "5" },
	{ .name = "breaker_window", .type = CONF_INT,
	  .offset = CONF_OFF(breaker_window), .min = 1, .max = 3600,
	  .def = "10" },
	{ .name = "breaker_cooldown", .type = CONF_INT,
	  .offset = CONF_OFF(breaker_cooldown), .min = 1, .max = 3600,
	  .def = "15" },
	{ .name = "predict_min_points", .type = CONF_INT,
	  .offset = CONF_OFF(predict_min_points), .min = 3, .max = 100000,
	  .def = "30" },
	{ .name = "predict_window_points", .type = CONF_INT,
	  .offset = CONF_OFF(predict_window_points), .min = 3, .max = 100000,
	  .def = "500" },
	{ .name = "predict_max_inflight", .type = CONF_INT,
	  .offset = CONF_OFF(predict_max_inflight), .min = 1, .max = 1024,
	  .def = "4" },
	{ .name = "price_cache_seconds", .type = CONF_INT,
	  .offset = CONF_OFF(price_cache_seconds), .min = 0, .max = 3600,
	  .def = "2" },
	{ .name = "max_trade_price_age", .type = CONF_INT,
	  .offset = CONF_OFF(max_trade_price_age), .min = 1, .max = 604800,
	  .def = "300" },

	/* ingestion (API.md's reasons; see ingest.c) */
	{ .name = "max_price", .type = CONF_INT,
	  .offset = CONF_OFF(max_price), .min = 1,
	  .max = 1000000000000000LL, .def = "1000000000000" },
	{ .name = "ingest_max_age", .type = CONF_INT,
	  .offset = CONF_OFF(ingest_max_age), .min = 60, .max = 31622400,
	  .def = "604800" },
	{ .name = "ingest_future_skew", .type = CONF_INT,
	  .offset = CONF_OFF(ingest_future_skew), .min = 0, .max = 3600,
	  .def = "300" },
	{ .name = "outlier_z", .type = CONF_DECIMAL,
	  .offset = CONF_OFF(outlier_z), .dmin = 1, .dmax = 1000,
	  .def = "6" },
	{ .name = "max_jump", .type = CONF_DECIMAL,
	  .offset = CONF_OFF(max_jump), .dmin = 0.001, .dmax = 1000,
	  .def = "0.5" },
	{ .name = "reanchor_points", .type = CONF_INT,
	  .offset = CONF_OFF(reanchor_points), .min = 2, .max = 1000,
	  .def = "5" },
	{ .name = "reanchor_span", .type = CONF_INT,
	  .offset = CONF_OFF(reanchor_span), .min = 1, .max = 31622400,
	  .def = "600" },
	{ .name = "ingest_window_points", .type = CONF_INT,
	  .offset = CONF_OFF(ingest_window_points), .min = 1,
	  .max = INGEST_WINDOW_MAX, .def = "500" },
	{ .name = "local_limit_per_minute", .type = CONF_INT,
	  .offset = CONF_OFF(local_limit_per_minute), .min = 1,
	  .max = 100000000, .def = "600" },

	/* events */
	{ .name = "event_flush_seconds", .type = CONF_INT,
	  .offset = CONF_OFF(event_flush_seconds), .min = 1, .max = 3600,
	  .def = "60" },

	/* alerts (DESIGN.md, Monitoring; alerts.c) */
	{ .name = "alert_login_failures_per_address", .type = CONF_INT,
	  .offset = CONF_OFF(alert_login_failures_per_address), .min = 1, .max = 100000000,
	  .def = "20" },
	{ .name = "alert_login_failures_address_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_login_failures_address_window), .min = 1, .max = 604800,
	  .def = "3600" },
	{ .name = "alert_rate_violations_per_address", .type = CONF_INT,
	  .offset = CONF_OFF(alert_rate_violations_per_address), .min = 1, .max = 100000000,
	  .def = "100" },
	{ .name = "alert_rate_violations_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_rate_violations_window), .min = 1, .max = 604800,
	  .def = "3600" },
	{ .name = "global_login_failures_per_min", .type = CONF_INT,
	  .offset = CONF_OFF(global_login_failures_per_min), .min = 1, .max = 100000000,
	  .def = "100" },
	{ .name = "alert_global_login_failures_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_global_login_failures_window), .min = 1, .max = 604800,
	  .def = "60" },
	{ .name = "alert_login_failures_per_account", .type = CONF_INT,
	  .offset = CONF_OFF(alert_login_failures_per_account), .min = 1, .max = 100000000,
	  .def = "10" },
	{ .name = "alert_login_failures_account_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_login_failures_account_window), .min = 1, .max = 604800,
	  .def = "3600" },
	{ .name = "alert_5xx_percent", .type = CONF_INT,
	  .offset = CONF_OFF(alert_5xx_percent), .min = 1, .max = 100,
	  .def = "10" },
	{ .name = "alert_5xx_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_5xx_window), .min = 60, .max = 3600,
	  .def = "300" },
	{ .name = "alert_5xx_min_requests", .type = CONF_INT,
	  .offset = CONF_OFF(alert_5xx_min_requests), .min = 1, .max = 100000000,
	  .def = "20" },
	{ .name = "alert_dependency_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_dependency_window), .min = 1, .max = 86400,
	  .def = "300" },
	{ .name = "alert_quota_percent", .type = CONF_INT,
	  .offset = CONF_OFF(alert_quota_percent), .min = 1, .max = 100,
	  .def = "50" },
	{ .name = "alert_request_spike_factor", .type = CONF_INT,
	  .offset = CONF_OFF(alert_request_spike_factor), .min = 2, .max = 100000,
	  .def = "10" },
	{ .name = "alert_request_spike_min_requests", .type = CONF_INT,
	  .offset = CONF_OFF(alert_request_spike_min_requests), .min = 1, .max = 100000000,
	  .def = "100" },
	{ .name = "alert_principal_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_principal_window), .min = 60, .max = 86400,
	  .def = "3600" },
	{ .name = "alert_forecast_error_percent", .type = CONF_INT,
	  .offset = CONF_OFF(alert_forecast_error_percent), .min = 1, .max = 100000,
	  .def = "50" },
	{ .name = "alert_forecast_window", .type = CONF_INT,
	  .offset = CONF_OFF(alert_forecast_window), .min = 1, .max = 604800,
	  .def = "3600" },
	{ .name = "alert_autoblock_minutes", .type = CONF_INT,
	  .offset = CONF_OFF(alert_autoblock_minutes), .min = 0, .max = 525600,
	  .def = "0" },
	{ .name = "alert_flush_seconds", .type = CONF_INT,
	  .offset = CONF_OFF(alert_flush_seconds), .min = 1, .max = 3600,
	  .def = "10" },
	{ .name = "alert_command", .type = CONF_LIST,
	  .offset = CONF_OFF(alert_command), .count = CONF_OFF(nalert_command),
	  .def = "" },
	{ .name = "alert_command_timeout", .type = CONF_INT,
	  .offset = CONF_OFF(alert_command_timeout), .min = 1, .max = 3600,
	  .def = "10" },
};
#define CONF_NOPTIONS	CONF_NITEMS(conf_options)

/* Keys of a "source NAME { ... }" block (price feeds). */
static const struct conf_option conf_source_options[] = {
	{ .name = "secret_file", .type = CONF_STRING,
	  .offset = SOURCE_OFF(secret_file), .def = "", .required = 1 },
	{ .name = "allowed_ips", .type = CONF_CIDRS,
	  .offset = SOURCE_OFF(allowed_ips), .def = "127.0.0.1, ::1" },
};
#define CONF_NSOURCE_OPTIONS	CONF_NITEMS(conf_source_options)

/* Cross-key checks run after the whole file is read: lo <= hi. */
static const struct conf_order {
	const char	*lo;
	const char	*hi;
} conf_orders[] = {
	{ "prices_default_limit", "prices_max_limit" },
	{ "prices_anonymous_max_limit", "prices_max_limit" },
	/* Older candidates are stale: a longer span could never complete. */
	{ "reanchor_span", "ingest_max_age" },
	/* A window below the minimum would make every forecast a 409. */
	{ "predict_min_points", "predict_window_points" },
};

/* What each type does: set a value (from the file or a default), free it. */
static int	conf_set_string(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_int(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_bool(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_cidrs(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_list(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_enum(const struct conf_option *, void *,
		    const char *, char *, size_t);
static int	conf_set_decimal(const struct conf_option *, void *,
		    const char *, char *, size_t);
static void	conf_free_string(const struct conf_option *, void *);
static void	conf_free_cidrs(const struct conf_option *, void *);
static void	conf_free_list(const struct conf_option *, void *);

static const struct conf_type_ops {
	int	 list;		/* takes comma-separated items */
	int	(*set)(const struct conf_option *, void *, const char *,
		    char *, size_t);
	void	(*release)(const struct conf_option *, void *);
} conf_types[CONF__MAX] = {
	/* CONF_STRING */ { 0, conf_set_string, conf_free_string },
	/* CONF_INT */	  { 0, conf_set_int, NULL },
	/* CONF_BOOL */	  { 0, conf_set_bool, NULL },
	/* CONF_CIDRS */  { 1, conf_set_cidrs, conf_free_cidrs },
	/* CONF_LIST */	  { 1, conf_set_list, conf_free_list },
	/* CONF_ENUM */	  { 0, conf_set_enum, NULL },
	/* CONF_DECIMAL */ { 0, conf_set_decimal, NULL },
};

static const struct {
	const char	*word;
	int		 value;
} conf_bools[] = {
	{ "yes", 1 }, { "no", 0 },
	{ "true", 1 }, { "false", 0 },
	{ "on", 1 }, { "off", 0 },
};

/* The parser's position in the file. */
struct conf_parse {
	const char	*path;
	const char	*p;
	const char	*end;
	int		 line;
	char	       **cause;
	struct conf	*c;
	int		 seen[CONF_NOPTIONS];		/* line, 0 = unset */
	int		 source_line[CONF_MAX_SOURCES];
};

static void conf_cause(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void conf_error(struct conf_parse *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets *cause to a newly allocated message (NULL if memory ran out). */
static void
conf_cause(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;
	va_end(ap);
}

/* Reports an error at a line: "PATH:LINE: message". */
static void
conf_error(struct conf_parse *cp, int line, const char *fmt, ...)
{
	char	 msg[CONF_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_cause(cp->cause, "%s:%d: %s", cp->path, line, msg);
}

static const struct conf_option *
conf_find(const struct conf_option *table, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

static int
conf_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

static int
conf_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Returns 1 if s holds nothing but blanks. */
static int
conf_empty(const char *s)
{
	while (conf_blank((unsigned char)*s))
		s++;
	return *s == '\0';
}

/* Runs the row's check on a value; its message is prefixed with the key. */
static int
conf_checked(const struct conf_option *o, const char *value, char *msg,
    size_t msgsize)
{
	char	 why[CONF_MSG_MAX];

	if (o->check == NULL || o->check(value, why, sizeof(why)) == 0)
		return 0;
	snprintf(msg, msgsize, "%s: %s", o->name, why);
	return -1;
}

static int
conf_set_string(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	char	**sp = (char **)((char *)base + o->offset), *s;

	if (conf_checked(o, value, msg, msgsize) == -1)
		return -1;
	if ((s = strdup(value)) == NULL) {
		snprintf(msg, msgsize, "out of memory");
		return -1;
	}
	free(*sp);
	*sp = s;
	return 0;
}

static void
conf_free_string(const struct conf_option *o, void *base)
{
	char	**sp = (char **)((char *)base + o->offset);

	free(*sp);
	*sp = NULL;
}

/*
 * A plain decimal integer, strtonum-style: digits only (a minus sign only
 * where the bounds allow negative numbers), no blanks, no suffix, no base
 * prefix, overflow caught.  Returns 0, or -1 with a message naming the
 * bounds.
 */
static int
conf_set_int(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	long long	*vp = (long long *)(void *)((char *)base + o->offset);
	long long	 v;
	const char	*s = value;
	char		*ep;

	if (*s == '-' && o->min < 0)
		s++;
	if (!conf_digit((unsigned char)*s))
		goto bad;
	while (conf_digit((unsigned char)*s))
		s++;
	if (*s != '\0')
		goto bad;
	errno = 0;
	v = strtoll(value, &ep, 10);
	if (errno == ERANGE || *ep != '\0' || v < o->min || v > o->max) {
		snprintf(msg, msgsize, "%s must be between %lld and %lld, "
		    "not %.64s", o->name, o->min, o->max, value);
		return -1;
	}
	*vp = v;
	return 0;
bad:
	snprintf(msg, msgsize, "%s must be a decimal integer between %lld "
	    "and %lld, not \"%.64s\"", o->name, o->min, o->max, value);
	return -1;
}

/*
 * A non-negative decimal number for a threshold that is not a whole
 * number (max_jump = 0.5): digits, optionally '.' and more digits -- no
 * sign, exponent, blanks, "nan" or "inf", which strtod() would take, and
 * never locale-dependent.  At most 9 digits on either side of the point,
 * so the value is computed exactly from two integers.  Returns 0, or -1
 * with a message naming the bounds.
 */
static int
conf_set_decimal(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	double		*vp = (double *)(void *)((char *)base +
			    o->offset);
	const char	*s = value;
	long long	 ip = 0, fp = 0, scale = 1;
	size_t		 ni = 0, nf = 0;
	double		 v;

	for (; conf_digit((unsigned char)*s); s++, ni++)
		if (ni < 9)
			ip = ip * 10 + (*s - '0');
	if (*s == '.')
		for (s++; conf_digit((unsigned char)*s); s++, nf++)
			if (nf < 9) {
				fp = fp * 10 + (*s - '0');
				scale *= 10;
			}
	if (ni == 0 || ni > 9 || nf > 9 || *s != '\0' ||
	    (s[-1] == '.'))
		goto bad;
	v = (double)ip + (double)fp / (double)scale;
	if (v < o->dmin || v > o->dmax) {
		snprintf(msg, msgsize, "%s must be between %g and %g, not "
		    "%.64s", o->name, o->dmin, o->dmax, value);
		return -1;
	}
	*vp = v;
	return 0;
bad:
	snprintf(msg, msgsize, "%s must be a decimal number between %g and "
	    "%g (digits, optionally '.' and more digits), not \"%.64s\"",
	    o->name, o->dmin, o->dmax, value);
	return -1;
}

static int
conf_set_bool(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	int	*vp = (int *)(void *)((char *)base + o->offset);
	size_t	 i;

	for (i = 0; i < CONF_NITEMS(conf_bools); i++) {
		if (strcmp(value, conf_bools[i].word) == 0) {
			*vp = conf_bools[i].value;
			return 0;
		}
	}
	snprintf(msg, msgsize, "%s must be yes or no (or true/false, on/off), "
	    "not \"%.64s\"", o->name, value);
	return -1;
}

static int
conf_set_enum(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	int	*vp = (int *)(void *)((char *)base + o->offset);
	char	 choices[256];
	size_t	 i, len = 0;
	int	 n;

	choices[0] = '\0';
	for (i = 0; o->choices[i] != NULL; i++) {
		if (strcmp(value, o->choices[i]) == 0) {
			*vp = (int)i;
			return 0;
		}
		n = snprintf(choices + len, sizeof(choices) - len, "%s%s",
		    i > 0 ? ", " : "", o->choices[i]);
		if (n < 0 || (size_t)n >= sizeof(choices) - len)
			break;
		len += n;
	}
	snprintf(msg, msgsize, "%s must be one of %s; not \"%.64s\"",
	    o->name, choices, value);
	return -1;
}

static int
conf_set_cidrs(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	struct cidr_list	*lp = (struct cidr_list *)(void *)
				    ((char *)base + o->offset);
	struct cidr_list	 l;
	const char		*errstr = NULL;

	memset(&l, 0, sizeof(l));
	if (!conf_empty(value) && cidr_list_parse(value, &l, &errstr) != 0) {
		snprintf(msg, msgsize, "%s: %s", o->name,
		    errstr != NULL ? errstr : "invalid address list");
		return -1;
	}
	cidr_list_free(lp);
	*lp = l;
	return 0;
}

static void
conf_free_cidrs(const struct conf_option *o, void *base)
{
	cidr_list_free((struct cidr_list *)(void *)((char *)base + o->offset));
}

/*
 * A comma-separated list of strings; blanks around items are dropped, an
 * empty value is an empty list, an empty item is an error.  Each item
 * passes the row's check.  Returns 0, or -1 with a message.
 */
static int
conf_set_list(const struct conf_option *o, void *base, const char *value,
    char *msg, size_t msgsize)
{
	char		***vp = (char ***)(void *)((char *)base + o->offset);
	size_t		 *np = (size_t *)(void *)((char *)base + o->count);
	char		**v = NULL, *item;
	const char	 *s, *e, *comma;
	size_t		  n = 0, cap = 0, i;

	s = value;
	while (!conf_empty(s)) {
		if ((comma = strchr(s, ',')) == NULL)
			comma = s + strlen(s);
		while (conf_blank((unsigned char)*s))
			s++;
		for (e = comma; e > s && conf_blank((unsigned char)e[-1]); e--)
			;
		if (e == s) {
			snprintf(msg, msgsize, "%s: empty item in the list",
			    o->name);
			goto fail;
		}
		if ((item = strndup(s, e - s)) == NULL)
			goto nomem;
		if (conf_checked(o, item, msg, msgsize) == -1) {
			free(item);
			goto fail;
		}
		if (n == cap) {
			char	**nv;

			cap = cap == 0 ? 4 : cap * 2;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				free(item);
				goto nomem;
			}
			v = nv;
		}
		v[n++] = item;
		if (*comma == '\0')
			break;
		s = comma + 1;
		if (conf_empty(s)) {
			snprintf(msg, msgsize, "%s: empty item in the list",
			    o->name);
			goto fail;
		}
	}
	conf_free_list(o, base);
	*vp = v;
	*np = n;
	return 0;
nomem:
	snprintf(msg, msgsize, "out of memory");
fail:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return -1;
}

static void
conf_free_list(const struct conf_option *o, void *base)
{
	char	***vp = (char ***)(void *)((char *)base + o->offset);
	size_t	  *np = (size_t *)(void *)((char *)base + o->count);
	size_t	   i;

	for (i = 0; i < *np; i++)
		free((*vp)[i]);
	free(*vp);
	*vp = NULL;
	*np = 0;
}

/* A key id goes into every token header: [A-Za-z0-9_-]{0,32}. */
static int
conf_check_kid(const char *s, char *msg, size_t msgsize)
{
	size_t	i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			break;
	if (i == n && n <= 32)
		return 0;
	(void)snprintf(msg, msgsize, "a key id is up to 32 letters, digits, "
	    "'-' or '_'");
	return -1;
}

/* The current key id goes into every token: it may not be empty. */
static int
conf_check_kid_required(const char *s, char *msg, size_t msgsize)
{
	if (*s == '\0') {
		(void)snprintf(msg, msgsize, "jwt_kid may not be empty");
		return -1;
	}
	return conf_check_kid(s, msg, msgsize);
}

/*
 * A Redis ACL user name goes into AUTH as one argument; Redis splits its
 * user rules on blanks, so a name with a blank or a control character
 * could never be declared.  Empty means the one-argument AUTH.
 */
static int
conf_check_redis_user(const char *s, char *msg, size_t msgsize)
{
	size_t	i, n = strlen(s);

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			break;
	if (i == n && n <= 64)
		return 0;
	(void)snprintf(msg, msgsize, "a Redis user name is up to 64 "
	    "printable ASCII characters without blanks");
	return -1;
}

/*
 * An origin as a browser sends it in Origin: lower-case http or https,
 * a host, an optional port that is not the scheme's default, and nothing
 * else.  Anything else could never equal a request's Origin, or (a "*")
 * would suggest a wildcard that is not there.  Returns 0 or -1.
 */
static int
conf_check_origin(const char *s, char *msg, size_t msgsize)
{
	const char	*host, *p, *digits, *defport;
	long		 port;

	if (strncasecmp(s, "https://", 8) == 0) {
		host = s + 8;
		defport = "443";
	} else if (strncasecmp(s, "http://", 7) == 0) {
		host = s + 7;
		defport = "80";
	} else {
		snprintf(msg, msgsize, "\"%.64s\" is not an origin: it must "
		    "start with http:// or https://", s);
		return -1;
	}
	for (p = s; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z') {
			snprintf(msg, msgsize, "\"%.64s\" must be lower case, "
			    "as browsers send it", s);
			return -1;
		}
	}
	if (strchr(s, '*') != NULL) {
		snprintf(msg, msgsize, "\"%.64s\": wildcards are not allowed; "
		    "list each origin", s);
		return -1;
	}

	p = host;
	if (*p == '[') {
		for (p++; conf_digit((unsigned char)*p) || *p == ':' ||
		    *p == '.' || (*p >= 'a' && *p <= 'f'); p++)
			;
		if (*p != ']' || p == host + 1)
			goto bad;
		p++;
	} else {
		while ((*p >= 'a' && *p <= 'z') ||
		    conf_digit((unsigned char)*p) || *p == '.' || *p == '-')
			p++;
	}
	if (p == host) {
		snprintf(msg, msgsize, "\"%.64s\" is not an origin: it has no "
		    "host", s);
		return -1;
	}
	if (*p == ':') {
		digits = ++p;
		while (conf_digit((unsigned char)*p))
			p++;
		if (p == digits || p - digits > 5 || *digits == '0')
			goto bad;
		port = strtol(digits, NULL, 10);
		if (port < 1 || port > 65535)
			goto bad;
		if ((size_t)(p - digits) == strlen(defport) &&
		    strncmp(digits, defport, p - digits) == 0) {
			snprintf(msg, msgsize, "\"%.64s\" names the default "
			    "port, which browsers leave out of Origin; "
			    "remove \":%s\"", s, defport);
			return -1;
		}
	}
	if (*p == '\0')
		return 0;
	if (*p == '/') {
		snprintf(msg, msgsize, "\"%.64s\" is not an origin: no path or "
		    "trailing slash (scheme://host[:port])", s);
		return -1;
	}
bad:
	snprintf(msg, msgsize, "\"%.64s\" is not an origin "
	    "(scheme://host[:port])", s);
	return -1;
}

/* Sets every key of a table to its default.  Returns 0, or -1 (a bug). */
static int
conf_defaults(const char *path, const struct conf_option *table, size_t n,
    void *base, char **cause)
{
	char	 msg[CONF_MSG_MAX];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (conf_types[table[i].type].set(&table[i], base, table[i].def,
		    msg, sizeof(msg)) == -1) {
			conf_cause(cause, "%s: default of %s: %s", path,
			    table[i].name, msg);
			return -1;
		}
	}
	return 0;
}

static void
conf_release(const struct conf_option *table, size_t n, void *base)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (conf_types[table[i].type].release != NULL)
			conf_types[table[i].type].release(&table[i], base);
}

/*
 * Reads the whole file (at most CONF_FILE_MAX bytes), and rejects lines
 * over CONF_LINE_MAX and control characters other than tab and newline, so
 * the parser below sees only printable text.  Returns the NUL-terminated
 * text, or NULL with *cause set.
 */
static char *
conf_read(const char *path, size_t *lenp, char **cause)
{
	struct stat	 st;
	char		*text = NULL;
	const char	*q, *start;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, line;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		conf_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		conf_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_cause(cause, "%s: not a regular file", path);
		goto fail;
	}
	if ((text = malloc(CONF_FILE_MAX + 1)) == NULL) {
		conf_cause(cause, "%s: out of memory", path);
		goto fail;
	}
	/* Read one byte past the limit to tell "exactly 1 MiB" from more. */
	for (;;) {
		n = read(fd, text + len, CONF_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			conf_cause(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
		if (len > CONF_FILE_MAX) {
			conf_cause(cause, "%s: larger than %d bytes", path,
			    CONF_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	text[len] = '\0';

	for (q = start = text, line = 1; q <= text + len; q++) {
		if (q == text + len || *q == '\n') {
			if (q - start > CONF_LINE_MAX) {
				conf_cause(cause, "%s:%d: line longer than %d "
				    "bytes", path, line, CONF_LINE_MAX);
				goto fail;
			}
			line++;
			start = q + 1;
		} else if (*q == '\r') {
			conf_cause(cause, "%s:%d: carriage return; use Unix "
			    "line endings", path, line);
			goto fail;
		} else if ((unsigned char)*q < 0x20 && *q != '\t') {
			conf_cause(cause, "%s:%d: control character 0x%02x",
			    path, line, (unsigned char)*q);
			goto fail;
		} else if (*q == 0x7f) {
			conf_cause(cause, "%s:%d: control character 0x7f",
			    path, line);
			goto fail;
		}
	}
	*lenp = len;
	return text;
fail:
	if (fd != -1)
		close(fd);
	free(text);
	return NULL;
}

/* Names the character at p for an error message. */
static const char *
conf_what(const struct conf_parse *cp, char *buf, size_t size)
{
	if (cp->p >= cp->end)
		return "end of file";
	if (*cp->p == '\n')
		return "end of line";
	if ((unsigned char)*cp->p >= 0x80)
		snprintf(buf, size, "byte 0x%02x", (unsigned char)*cp->p);
	else
		snprintf(buf, size, "'%c'", *cp->p);
	return buf;
}

/* Skips blanks and a comment; between entries also newlines and ';'. */
static void
conf_skip(struct conf_parse *cp, int entries)
{
	while (cp->p < cp->end) {
		if (conf_blank((unsigned char)*cp->p))
			cp->p++;
		else if (*cp->p == '#') {
			while (cp->p < cp->end && *cp->p != '\n')
				cp->p++;
		} else if (entries && *cp->p == '\n') {
			cp->line++;
			cp->p++;
		} else if (entries && *cp->p == ';')
			cp->p++;
		else
			break;
	}
}

/* Whether p ends an entry: end of line or file, ';', a comment, a '}'. */
static int
conf_at_end(const struct conf_parse *cp, int inblock)
{
	return cp->p >= cp->end || *cp->p == '\n' || *cp->p == ';' ||
	    *cp->p == '#' || (inblock && *cp->p == '}');
}

/*
 * Reads a key or a name: a run of characters up to a blank or punctuation
 * of the grammar.  Returns 0, or -1 with the error reported.
 */
static int
conf_word(struct conf_parse *cp, char *buf, size_t size, const char *what)
{
	const char	*start = cp->p;
	char		 tmp[16];
	size_t		 len;

	while (cp->p < cp->end && !conf_blank((unsigned char)*cp->p) &&
	    strchr("\n=;#{}\",", *cp->p) == NULL)
		cp->p++;
	len = cp->p - start;
	if (len == 0) {
		conf_error(cp, cp->line, "expected %s, found %s", what,
		    conf_what(cp, tmp, sizeof(tmp)));
		return -1;
	}
	if (len >= size) {
		conf_error(cp, cp->line, "%s \"%.32s...\" is too long", what,
		    start);
		return -1;
	}
	memcpy(buf, start, len);
	buf[len] = '\0';
	return 0;
}

/*
 * Reads a double-quoted string at p into out; \" and \\ are the only
 * escapes, and a string ends on its line.  Returns 0 or -1.
 */
static int
conf_quoted(struct conf_parse *cp, const char *key, char *out, size_t size,
    size_t *len)
{
	cp->p++;
	for (;;) {
		if (cp->p >= cp->end || *cp->p == '\n') {
			conf_error(cp, cp->line, "unterminated quoted string "
			    "in the value of %s", key);
			return -1;
		}
		if (*cp->p == '"') {
			cp->p++;
			return 0;
		}
		if (*cp->p == '\\') {
			cp->p++;
			if (cp->p >= cp->end ||
			    (*cp->p != '"' && *cp->p != '\\')) {
				conf_error(cp, cp->line, "unknown escape in the "
				    "value of %s; only \\\" and \\\\ are "
				    "allowed", key);
				return -1;
			}
		}
		if (*len + 1 >= size) {
			conf_error(cp, cp->line, "value of %s is too long",
			    key);
			return -1;
		}
		out[(*len)++] = *cp->p++;
	}
}

/*
 * Reads a value: items, bare or quoted, separated by commas, up to the
 * end of the entry.  A bare item runs to a comma or the end of the entry
 * with its outer blanks dropped.  The items are joined with ',' in out;
 * *nitems says how many there were.  Returns 0, or -1 with the error
 * reported.
 */
static int
conf_value(struct conf_parse *cp, const char *key, int inblock, char *out,
    size_t size, size_t *nitems)
{
	const char	*start, *e;
	char		 tmp[16];
	size_t		 len = 0;

	*nitems = 0;
	conf_skip(cp, 0);
	if (conf_at_end(cp, inblock)) {
		conf_error(cp, cp->line, "%s has no value", key);
		return -1;
	}
	for (;;) {
		conf_skip(cp, 0);
		if (cp->p < cp->end && *cp->p == '"') {
			if (conf_quoted(cp, key, out, size, &len) == -1)
				return -1;
			while (cp->p < cp->end &&
			    conf_blank((unsigned char)*cp->p))
				cp->p++;
		} else {
			start = cp->p;
			while (cp->p < cp->end &&
			    strchr("\n;#,\"{}", *cp->p) == NULL)
				cp->p++;
			for (e = cp->p; e > start &&
			    conf_blank((unsigned char)e[-1]); e--)
				;
			if (cp->p < cp->end && *cp->p == '"') {
				conf_error(cp, cp->line, "unexpected '\"' in "
				    "the value of %s; quote the whole item",
				    key);
				return -1;
			}
			if (e == start) {
				conf_error(cp, cp->line, "empty item in the "
				    "value of %s", key);
				return -1;
			}
			if (len + (e - start) >= size) {
				conf_error(cp, cp->line, "value of %s is too "
				    "long", key);
				return -1;
			}
			memcpy(out + len, start, e - start);
			len += e - start;
		}
		(*nitems)++;
		if (cp->p < cp->end && *cp->p == ',') {
			cp->p++;
			if (len + 1 >= size) {
				conf_error(cp, cp->line, "value of %s is too "
				    "long", key);
				return -1;
			}
			out[len++] = ',';
			continue;
		}
		if (conf_at_end(cp, inblock))
			break;
		conf_error(cp, cp->line, "unexpected %s in the value of %s",
		    conf_what(cp, tmp, sizeof(tmp)), key);
		return -1;
	}
	out[len] = '\0';
	return 0;
}

/*
 * Reads "= value" for a key found in a table and stores it.  Returns 0, or
 * -1 with the error reported.
 */
static int
conf_entry(struct conf_parse *cp, const struct conf_option *o, void *base,
    int inblock, int line)
{
	char	 value[CONF_LINE_MAX + 1], msg[CONF_MSG_MAX], tmp[16];
	size_t	 nitems;

	conf_skip(cp, 0);
	if (cp->p >= cp->end || *cp->p != '=') {
		conf_error(cp, line, "expected '=' after %s, found %s",
		    o->name, conf_what(cp, tmp, sizeof(tmp)));
		return -1;
	}
	cp->p++;
	if (conf_value(cp, o->name, inblock, value, sizeof(value),
	    &nitems) == -1)
		return -1;
	if (nitems > 1 && !conf_types[o->type].list) {
		conf_error(cp, line, "%s takes one value, not a list", o->name);
		return -1;
	}
	if (conf_types[o->type].set(o, base, value, msg, sizeof(msg)) == -1) {
		conf_error(cp, line, "%s", msg);
		return -1;
	}
	return 0;
}

/* Checks that each required key of a block was given and is not empty. */
static int
conf_required(struct conf_parse *cp, const struct conf_option *table,
    size_t n, const void *base, const int *seen, int line, const char *what)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		const char *const *sp;

		if (!table[i].required)
			continue;
		sp = (const char *const *)(const void *)
		    ((const char *)base + table[i].offset);
		if (seen[i] == 0 || (table[i].type == CONF_STRING &&
		    (*sp == NULL || **sp == '\0'))) {
			conf_error(cp, line, "%s has no %s", what,
			    table[i].name);
			return -1;
		}
	}
	return 0;
}

static int
conf_source_name_valid(const char *name)
{
	size_t	 len = strlen(name), i;

	if (len < 1 || len > CONF_SOURCE_NAME_MAX)
		return 0;
	/* sources.name in the schema: a letter or digit first. */
	if (name[0] == '_' || name[0] == '-')
		return 0;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    conf_digit((unsigned char)name[i]) ||
		    name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

/*
 * Reads "source NAME { key = value; ... }" after the word "source"; the
 * block may span lines, its entries separated by ';' or newlines.
 * Returns 0, or -1 with the error reported.
 */
static int
conf_source(struct conf_parse *cp, int line)
{
	struct conf		*c = cp->c;
	struct conf_source	*src;
	const struct conf_option *o;
	char			 name[CONF_KEY_MAX + 1], key[CONF_KEY_MAX + 1];
	char			 what[CONF_KEY_MAX + 16], tmp[16];
	int			 seen[CONF_NSOURCE_OPTIONS];
	size_t			 i;

	memset(seen, 0, sizeof(seen));
	conf_skip(cp, 0);
	if (conf_word(cp, name, sizeof(name), "a source name") == -1)
		return -1;
	if (!conf_source_name_valid(name)) {
		conf_error(cp, line, "source name \"%s\" is invalid: 1 to %d "
		    "of a-z, 0-9, '_' and '-', not starting with '_' or '-'",
		    name, CONF_SOURCE_NAME_MAX);
		return -1;
	}
	for (i = 0; i < c->nsources; i++) {
		if (strcmp(c->sources[i].name, name) == 0) {
			conf_error(cp, line, "source \"%s\" is defined twice "
			    "(first on line %d)", name, cp->source_line[i]);
			return -1;
		}
	}
	if (c->nsources == CONF_MAX_SOURCES) {
		conf_error(cp, line, "more than %d sources", CONF_MAX_SOURCES);
		return -1;
	}
	conf_skip(cp, 0);
	if (cp->p >= cp->end || *cp->p != '{') {
		conf_error(cp, cp->line, "expected '{' after source \"%s\", "
		    "found %s", name, conf_what(cp, tmp, sizeof(tmp)));
		return -1;
	}
	cp->p++;

	/* Counted at once, so conf_free() releases it on any error below. */
	cp->source_line[c->nsources] = line;
	src = &c->sources[c->nsources++];
	if ((src->name = strdup(name)) == NULL) {
		conf_error(cp, line, "out of memory");
		return -1;
	}
	if (conf_defaults(cp->path, conf_source_options, CONF_NSOURCE_OPTIONS,
	    src, cp->cause) == -1)
		return -1;
	snprintf(what, sizeof(what), "source \"%s\"", name);

	for (;;) {
		int	 keyline;

		conf_skip(cp, 1);
		if (cp->p >= cp->end) {
			conf_error(cp, line, "%s is not closed with '}'", what);
			return -1;
		}
		if (*cp->p == '}') {
			cp->p++;
			break;
		}
		keyline = cp->line;
		if (conf_word(cp, key, sizeof(key), "a key") == -1)
			return -1;
		if ((o = conf_find(conf_source_options, CONF_NSOURCE_OPTIONS,
		    key)) == NULL) {
			conf_error(cp, keyline, "unknown key \"%s\" in %s",
			    key, what);
			return -1;
		}
		if (seen[o - conf_source_options] != 0) {
			conf_error(cp, keyline, "key \"%s\" given twice in %s "
			    "(first on line %d)", key, what,
			    seen[o - conf_source_options]);
			return -1;
		}
		if (conf_entry(cp, o, src, 1, keyline) == -1)
			return -1;
		seen[o - conf_source_options] = keyline;
	}

	conf_skip(cp, 0);
	if (!conf_at_end(cp, 0)) {
		conf_error(cp, cp->line, "unexpected %s after the '}' of %s",
		    conf_what(cp, tmp, sizeof(tmp)), what);
		return -1;
	}
	return conf_required(cp, conf_source_options, CONF_NSOURCE_OPTIONS,
	    src, seen, line, what);
}

/* Parses the whole text.  Returns 0, or -1 with the error reported. */
static int
conf_parse_text(struct conf_parse *cp)
{
	const struct conf_option *o;
	char			 key[CONF_KEY_MAX + 1];
	int			 line;

	for (;;) {
		conf_skip(cp, 1);
		if (cp->p >= cp->end)
			break;
		if (*cp->p == '}') {
			conf_error(cp, cp->line, "unexpected '}' outside a "
			    "block");
			return -1;
		}
		line = cp->line;
		if (conf_word(cp, key, sizeof(key), "a key") == -1)
			return -1;
		if (strcmp(key, "source") == 0) {
			conf_skip(cp, 0);
			if (cp->p < cp->end && *cp->p == '=') {
				conf_error(cp, line, "source starts a block: "
				    "source NAME { secret_file = ... }");
				return -1;
			}
			if (conf_source(cp, line) == -1)
				return -1;
			continue;
		}
		if ((o = conf_find(conf_options, CONF_NOPTIONS, key)) == NULL) {
			conf_error(cp, line, "unknown key \"%s\"", key);
			return -1;
		}
		if (cp->seen[o - conf_options] != 0) {
			conf_error(cp, line, "key \"%s\" given twice (first on "
			    "line %d)", key, cp->seen[o - conf_options]);
			return -1;
		}
		if (conf_entry(cp, o, cp->c, 0, line) == -1)
			return -1;
		cp->seen[o - conf_options] = line;
	}
	return conf_required(cp, conf_options, CONF_NOPTIONS, cp->c, cp->seen,
	    cp->line, "the configuration");
}

/*
 * The cross-key checks of conf_orders.  An error names the later of the
 * two lines that set the keys.  Returns 0 or -1.
 */
static int
conf_check_orders(struct conf_parse *cp)
{
	const struct conf_option *lo, *hi;
	long long		 vlo, vhi;
	size_t			 i;
	int			 line;

	for (i = 0; i < CONF_NITEMS(conf_orders); i++) {
		lo = conf_find(conf_options, CONF_NOPTIONS, conf_orders[i].lo);
		hi = conf_find(conf_options, CONF_NOPTIONS, conf_orders[i].hi);
		if (lo == NULL || hi == NULL || lo->type != CONF_INT ||
		    hi->type != CONF_INT) {
			conf_cause(cp->cause, "%s: bad cross-key check %s <= %s",
			    cp->path, conf_orders[i].lo, conf_orders[i].hi);
			return -1;
		}
		vlo = *(long long *)(void *)((char *)cp->c + lo->offset);
		vhi = *(long long *)(void *)((char *)cp->c + hi->offset);
		if (vlo <= vhi)
			continue;
		line = cp->seen[lo - conf_options];
		if (cp->seen[hi - conf_options] > line)
			line = cp->seen[hi - conf_options];
		conf_error(cp, line, "%s (%lld) must not be greater than %s "
		    "(%lld)", lo->name, vlo, hi->name, vhi);
		return -1;
	}
	return 0;
}

/*
 * Loads a configuration: defaults from the table, then the file at path.
 * Secrets are not read here (conf_load_secrets()), so aspidactl can check
 * a configuration without them.  Returns a struct conf to release with
 * conf_free(), or NULL with *cause set to "PATH:LINE: reason" (malloc'd;
 * NULL if memory ran out).
 */
struct conf *
conf_load(const char *path, char **cause)
{
	struct conf_parse	*cp = NULL;
	struct conf		*c = NULL;
	char			*text = NULL, *dummy = NULL;
	size_t			 len;

	if (cause == NULL)
		cause = &dummy;
	*cause = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (cp = calloc(1, sizeof(*cp))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		conf_cause(cause, "%s: out of memory", path);
		goto fail;
	}
	if (conf_defaults(path, conf_options, CONF_NOPTIONS, c, cause) == -1)
		goto fail;
	if ((text = conf_read(path, &len, cause)) == NULL)
		goto fail;

	cp->path = path;
	cp->p = text;
	cp->end = text + len;
	cp->line = 1;
	cp->cause = cause;
	cp->c = c;
	if (conf_parse_text(cp) == -1 || conf_check_orders(cp) == -1)
		goto fail;

	free(text);
	free(cp);
	return c;
fail:
	free(text);
	free(cp);
	conf_free(c);
	free(dummy);
	return NULL;
}

/*
 * The secret files of the main section: each is read with the rules of
 * secret_file_read() into its buffer.  An optional one may be unset.
 */
struct conf_secret {
	const char	*name;
	size_t		 file;
	size_t		 buf;
	size_t		 size;
	size_t		 len;
	int		 required;
};
#define CONF_SECRET(n, b, req) { #n, CONF_OFF(n), CONF_OFF(b), \
	sizeof(((struct conf *)0)->b), CONF_OFF(b##_len), req }
static const struct conf_secret conf_secrets[] = {
	CONF_SECRET(cursor_secret_file, cursor_secret, 1),
	CONF_SECRET(jwt_key_file, jwt_key, 1),
	CONF_SECRET(jwt_previous_key_file, jwt_previous_key, 0),
	CONF_SECRET(password_pepper_file, password_pepper, 1),
	CONF_SECRET(csrf_secret_file, csrf_secret, 1),
};
#define CONF_NSECRETS	CONF_NITEMS(conf_secrets)

/*
 * Reads the secret files the configuration names into it: the cursor
 * secret (required), each source's secret, and the Redis password when a
 * file is given.  Returns 0, or -1 with *cause set (and nothing read left
 * behind).
 */
int
conf_load_secrets(struct conf *c, uid_t uid, char **cause)
{
	struct conf_source	*src;
	char			*why = NULL, *dummy = NULL;
	size_t			 i;

	if (cause == NULL)
		cause = &dummy;
	*cause = NULL;
	for (i = 0; i < CONF_NSECRETS; i++) {
		const struct conf_secret *cs = &conf_secrets[i];
		const char *file = *(char **)((char *)c + cs->file);

		if (file == NULL || *file == '\0') {
			if (!cs->required)
				continue;
			conf_cause(cause, "%s: %s is not set; it is required "
			    "to serve", c->path, cs->name);
			goto fail;
		}
		if (secret_file_read(file, uid, (unsigned char *)c + cs->buf,
		    cs->size, (size_t *)((char *)c + cs->len), &why) == -1) {
			conf_cause(cause, "%s: %s: %s", c->path, cs->name,
			    why != NULL ? why : "out of memory");
			goto fail;
		}
	}
	if (c->jwt_previous_key_len > 0 && *c->jwt_previous_kid == '\0') {
		conf_cause(cause, "%s: jwt_previous_key_file needs "
		    "jwt_previous_kid", c->path);
		goto fail;
	}
	if (c->jwt_previous_key_len > 0 &&
	    strcmp(c->jwt_previous_kid, c->jwt_kid) == 0) {
		conf_cause(cause, "%s: jwt_previous_kid must differ from "
		    "jwt_kid", c->path);
		goto fail;
	}
	for (i = 0; i < c->nsources; i++) {
		src = &c->sources[i];
		if (src->secret_file == NULL || *src->secret_file == '\0') {
			conf_cause(cause, "%s: source \"%s\" has no "
			    "secret_file", c->path, src->name);
			goto fail;
		}
		if (secret_file_read(src->secret_file, uid, src->secret,
		    sizeof(src->secret), &src->secret_len, &why) == -1) {
			conf_cause(cause, "%s: source \"%s\": %s", c->path,
			    src->name, why != NULL ? why : "out of memory");
			goto fail;
		}
	}
	if (c->redis_password_file != NULL && *c->redis_password_file != '\0' &&
	    secret_file_read(c->redis_password_file, uid, c->redis_password,
	    sizeof(c->redis_password), &c->redis_password_len, &why) == -1) {
		conf_cause(cause, "%s: redis_password_file: %s", c->path,
		    why != NULL ? why : "out of memory");
		goto fail;
	}
	if (c->redis_user != NULL && *c->redis_user != '\0' &&
	    c->redis_password_len == 0) {
		conf_cause(cause, "%s: redis_user needs redis_password_file",
		    c->path);
		goto fail;
	}
	return 0;
fail:
	free(why);
	free(dummy);
	for (i = 0; i < CONF_NSECRETS; i++) {
		explicit_bzero((char *)c + conf_secrets[i].buf,
		    conf_secrets[i].size);
		*(size_t *)((char *)c + conf_secrets[i].len) = 0;
	}
	explicit_bzero(c->redis_password, sizeof(c->redis_password));
	c->redis_password_len = 0;
	for (i = 0; i < c->nsources; i++) {
		explicit_bzero(c->sources[i].secret,
		    sizeof(c->sources[i].secret));
		c->sources[i].secret_len = 0;
	}
	return -1;
}

/* Releases a configuration; every secret is wiped first. */
void
conf_free(struct conf *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	conf_release(conf_options, CONF_NOPTIONS, c);
	for (i = 0; i < c->nsources; i++) {
		free(c->sources[i].name);
		conf_release(conf_source_options, CONF_NSOURCE_OPTIONS,
		    &c->sources[i]);
	}
	free(c->path);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/*
 * Where the configuration is: the -f argument, else $ASPIDA_CONFIG when
 * set and not empty, else SYSCONFDIR/aspida/aspida.conf.  Returns a
 * pointer the caller does not free.
 */
const char *
conf_default_path(const char *flag_path)
{
	const char	*env;

	if (flag_path != NULL)
		return flag_path;
	if ((env = getenv("ASPIDA_CONFIG")) != NULL && *env != '\0')
		return env;
	return SYSCONFDIR "/aspida/aspida.conf";
}

/*
 * Reads a secret from a file that only the user aspida runs as can read:
 * not a symbolic link, a regular file (O_NONBLOCK so a FIFO cannot hang
 * start-up), owned by uid, no group or other permission bits.  At most
 * bufsize bytes after one trailing newline is dropped, at least
 * CONF_SECRET_MIN.  Returns 0 with the secret in buf and its length in
 * *lenp, or -1 with *cause naming the file and the reason (buf wiped).
 */
int
secret_file_read(const char *path, uid_t uid, unsigned char *buf,
    size_t bufsize, size_t *lenp, char **cause)
{
	struct stat	 st;
	unsigned char	 extra[2];
	char		*dummy = NULL;
	size_t		 len = 0, nextra = 0;
	ssize_t		 n;
	int		 fd = -1;

	if (cause == NULL)
		cause = &dummy;
	*cause = NULL;
	*lenp = 0;
	if (path == NULL || *path == '\0') {
		conf_cause(cause, "the secret file name is empty");
		goto fail;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT)
			conf_cause(cause, "%s does not exist", path);
		else if (errno == ELOOP)
			conf_cause(cause, "%s is a symbolic link; secret files "
			    "must be regular files", path);
		else
			conf_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) == -1) {
		conf_cause(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_cause(cause, "%s is not a regular file", path);
		goto fail;
	}
	if (st.st_uid != uid) {
		conf_cause(cause, "%s is owned by uid %lu, not by the user "
		    "aspida runs as (uid %lu)", path, (unsigned long)st.st_uid,
		    (unsigned long)uid);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		conf_cause(cause, "%s is %s by group or others (mode %04o); "
		    "chmod 600 it", path, (st.st_mode & 044) != 0 ?
		    "readable" : "writable or executable",
		    (unsigned int)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > bufsize + 1)
		goto toolarge;

	/* The size may change under us: the bytes read decide. */
	while (len < bufsize) {
		n = read(fd, buf + len, bufsize - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			conf_cause(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len == bufsize) {
		while (nextra < sizeof(extra)) {
			n = read(fd, extra + nextra, sizeof(extra) - nextra);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1) {
				conf_cause(cause, "%s: %s", path,
				    strerror(errno));
				goto fail;
			}
			if (n == 0)
				break;
			nextra += n;
		}
	}
	if (nextra == 1 && extra[0] == '\n')
		;	/* the newline past a full buffer is the one dropped */
	else if (nextra > 0)
		goto toolarge;
	else if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len < CONF_SECRET_MIN) {
		conf_cause(cause, "%s is %zu bytes; secrets must be at least "
		    "%d bytes", path, len, CONF_SECRET_MIN);
		goto fail;
	}
	close(fd);
	explicit_bzero(extra, sizeof(extra));
	*lenp = len;
	return 0;
toolarge:
	conf_cause(cause, "%s is too large; this secret must be at most %zu "
	    "bytes", path, bufsize);
fail:
	if (fd != -1)
		close(fd);
	explicit_bzero(extra, sizeof(extra));
	explicit_bzero(buf, bufsize);
	free(dummy);
	return -1;
}
