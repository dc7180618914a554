/*
 * aspida.h - the types every module shares: the request, the error table,
 * the route and field tables, and the prototypes of each module.
 *
 * One header, as in OpenBSD httpd: the file list of src/ reads as the
 * architecture, and this file is its index.
 */
#ifndef ASPIDA_H
#define ASPIDA_H

#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>

#define ASPIDA_REQID_LEN	32	/* 16 random bytes in hex */
#define ASPIDA_MAX_HEADERS	24
#define ASPIDA_MAX_QUERY	16	/* query parameters a request may carry */
#define ASPIDA_MAX_PATH_PARAMS	4
#define ASPIDA_MAX_URI		4096
#define ASPIDA_JSON_DEPTH	16

/* compat.c */
#ifndef HAVE_STRLCPY
size_t	 strlcpy(char *, const char *, size_t);
#endif

/*
 * Errors: one enum, one table (errors.c) holding API.md's status, code and
 * our own message.  AERR_OK lets a stage pass; AERR_DONE means the stage has
 * answered already (a preflight) and the pipeline only responds and audits.
 */
enum aerr {
	AERR_OK = 0,
	AERR_DONE,
	AERR_INVALID_INPUT,
	AERR_INVALID_ASSET,
	AERR_INVALID_JSON,
	AERR_WEAK_PASSWORD,
	AERR_UNAUTHORIZED,
	AERR_INVALID_CREDENTIALS,
	AERR_TOKEN_EXPIRED,
	AERR_TOKEN_REVOKED,
	AERR_FORBIDDEN,
	AERR_CSRF_FAILED,
	AERR_IP_NOT_ALLOWED,
	AERR_INSUFFICIENT_SCOPE,
	AERR_NOT_FOUND,
	AERR_UNKNOWN_ASSET,
	AERR_METHOD_NOT_ALLOWED,
	AERR_CONFLICT,
	AERR_INSUFFICIENT_HOLDINGS,
	AERR_EMAIL_TAKEN,
	AERR_PAYLOAD_TOO_LARGE,
	AERR_UNSUPPORTED_MEDIA_TYPE,
	AERR_ACCOUNT_LOCKED,
	AERR_RATE_LIMITED,
	AERR_QUOTA_EXCEEDED,
	AERR_INTERNAL,
	AERR_BUSY,
	AERR_UNAVAILABLE,
	AERR__MAX
};

struct aerr_info {
	int		 status;
	const char	*code;
	const char	*message;
};
extern const struct aerr_info aerrs[AERR__MAX];

/* arena.c: request memory with registered destructors, freed as one. */
struct arena;
struct arena	*arena_new(void);
void		*arena_alloc(struct arena *, size_t);
char		*arena_strdup(struct arena *, const char *);
char		*arena_strndup(struct arena *, const char *, size_t);
char		*arena_printf(struct arena *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 arena_defer(struct arena *, void (*)(void *), void *);
void		 arena_reset(struct arena *);
void		 arena_free(struct arena *);
size_t		 arena_used(const struct arena *);

/* buf.c: a length-tracked output buffer living in an arena. */
struct buf {
	struct arena	*arena;
	char		*data;
	size_t		 len;
	size_t		 cap;
};
void		 buf_init(struct buf *, struct arena *);
void		 buf_append(struct buf *, const void *, size_t);
void		 buf_puts(struct buf *, const char *);
void		 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*buf_cstr(struct buf *);

/* log.c: OpenBSD's logging API, to syslog and optionally a file. */
void	 log_init(const char *, int foreground, int facility);
void	 log_set_file(const char *);
void	 log_setverbose(int);
void	 log_reopen(void);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_crit(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 log_line(int priority, int facility, const char *);

/* ipaddr.c: addresses and CIDR lists. IPv4-mapped IPv6 is folded to IPv4. */
struct ipaddr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	a[16];		/* network order; IPv4 uses a[0..3] */
};
struct cidr {
	struct ipaddr	net;
	int		prefix;
};
struct cidr_list {
	struct cidr	*v;
	size_t		 n;
};
int	 ipaddr_parse(const char *, struct ipaddr *);
int	 ipaddr_format(const struct ipaddr *, char *, size_t);
int	 ipaddr_is_loopback(const struct ipaddr *);
void	 ipaddr_truncate(struct ipaddr *, int v4prefix, int v6prefix);
int	 cidr_parse(const char *, struct cidr *);
int	 cidr_match(const struct cidr *, const struct ipaddr *);
int	 cidr_list_parse(const char *, struct cidr_list *, const char **);
int	 cidr_list_match(const struct cidr_list *, const struct ipaddr *);
void	 cidr_list_free(struct cidr_list *);
int	 ipaddr_from_xff(const char *, const struct ipaddr *,
	    const struct cidr_list *, struct ipaddr *);

/* json_strict.c: RFC 8259 pre-scan that json-c alone does not do. */
int	 json_strict_check(const char *, size_t, int, const char **);
int	 utf8_valid(const char *, size_t);

/* conf.c: aspida.conf, from one options table. */
enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_BOOL,
	CONF_CIDRS,
	CONF_LIST,
	CONF_ENUM,
	CONF__MAX
};

#define CONF_MAX_SOURCES	32

struct conf_source {
	char		*name;
	char		*secret_file;
	struct cidr_list allowed_ips;
	unsigned char	 secret[64];
	size_t		 secret_len;
};

struct conf {
	char		*path;
	/* process */
	char		*listen;
	long long	 workers;
	long long	 max_requests_per_worker;
	long long	 shutdown_timeout;
	long long	 memory_limit_mb;
	int		 sandbox;
	char		*log_file;
	int		 log_verbose;
	/* PostgreSQL */
	char		*db_conninfo;
	char		*db_owner_conninfo;
	long long	 db_connect_timeout_ms;
	long long	 db_query_timeout_ms;
	long long	 db_retry_max_ms;
	/* Redis */
	char		*redis_host;
	long long	 redis_port;
	char		*redis_socket;
	char		*redis_password_file;
	unsigned char	 redis_password[128];
	size_t		 redis_password_len;
	long long	 redis_connect_timeout_ms;
	long long	 redis_timeout_ms;
	int		 redis_failure_open;
	/* request limits */
	long long	 max_body_bytes;
	long long	 ingest_max_body_bytes;
	long long	 retry_after_unavailable;
	long long	 prices_default_limit;
	long long	 prices_max_limit;
	long long	 prices_anonymous_max_limit;
	/* addresses */
	struct cidr_list trusted_proxies;
	struct cidr_list admin_allow_ips;
	struct cidr_list metrics_allow_ips;
	long long	 ipv6_prefix;
	char		**cors_origins;
	size_t		 ncors_origins;
	/* secrets */
	char		*cursor_secret_file;
	unsigned char	 cursor_secret[64];
	size_t		 cursor_secret_len;
	/* events */
	long long	 event_flush_seconds;
	/* authentication: tokens */
	char		*jwt_key_file;
	char		*jwt_kid;
	unsigned char	 jwt_key[64];
	size_t		 jwt_key_len;
	char		*jwt_previous_key_file;
	char		*jwt_previous_kid;
	unsigned char	 jwt_previous_key[64];
	size_t		 jwt_previous_key_len;
	char		*jwt_issuer;
	char		*jwt_audience;
	long long	 access_token_ttl;
	long long	 refresh_token_ttl;
	long long	 jwt_leeway;
	int		 bind_ip;
	/* authentication: passwords, sessions, lockout */
	char		*password_pepper_file;
	unsigned char	 password_pepper[64];
	size_t		 password_pepper_len;
	char		*csrf_secret_file;
	unsigned char	 csrf_secret[64];
	size_t		 csrf_secret_len;
	long long	 bcrypt_cost;
	long long	 login_max_inflight;
	long long	 gate_slot_ttl;
	long long	 lock_threshold;
	long long	 lock_window;
	long long	 lock_base;
	long long	 lock_max;
	long long	 lock_reset;
	/* sources */
	struct conf_source sources[CONF_MAX_SOURCES];
	size_t		 nsources;
};

extern struct conf *conf;

struct conf	*conf_load(const char *, char **);
int		 conf_load_secrets(struct conf *, uid_t, char **);
void		 conf_free(struct conf *);
const char	*conf_default_path(const char *);
int		 secret_file_read(const char *, uid_t, unsigned char *, size_t,
		    size_t *, char **);

/* Methods, and what a route wants from the pipeline. */
enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_POST,
	METHOD_PUT,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD_OPTIONS,
	METHOD__MAX
};
extern const char *const methods[METHOD__MAX];

enum rate_class {
	RATE_NONE,
	RATE_AUTH,
	RATE_PREDICT,
	RATE_PORTFOLIO,
	RATE_PRICES,
	RATE_DEFAULT,
	RATE__MAX
};

enum auth_need {
	AUTH_NONE,		/* ops routes: no credentials read at all */
	AUTH_OPTIONAL,		/* anonymous allowed; bad credentials still 401 */
	AUTH_REQUIRED,
	AUTH_IGNORED		/* register, login, refresh */
};

/* Field types for validation tables (stage_validate.c). */
enum ftype {
	FT_STRING,		/* UTF-8, no control characters, length bounds */
	FT_NAME,		/* FT_STRING without '<' or '>' */
	FT_INT,			/* decimal integer within [min, max] */
	FT_ASSET,		/* ^[A-Z0-9]{1,10}$ -> invalid_asset */
	FT_TIMESTAMP,		/* RFC 3339, UTC, whole seconds, 'Z' */
	FT_CURSOR,		/* opaque, checked by the route */
	FT__MAX
};

struct field {
	const char	*name;
	enum ftype	 type;
	long long	 min;
	long long	 max;
	int		 required;
};

struct value {
	const struct field *field;
	int		 present;
	const char	*s;		/* the validated string */
	size_t		 len;
	long long	 i;		/* FT_INT, FT_TIMESTAMP (epoch seconds) */
};

struct req;

struct route {
	enum method		 method;
	const char		*path;	/* segments; "{name}" is a parameter */
	enum rate_class		 rate;
	enum auth_need		 auth;
	unsigned int		 scopes;
	int			 csrf;
	int			 csv;	/* offers text/csv */
	int			 ops;	/* outside /api/v1: plain bodies */
	int			 ingest;	/* ingest_max_body_bytes applies */
	const struct field	*params;	/* path parameters */
	const struct field	*query;
	const struct field	*body;
	enum aerr		(*handler)(struct req *);
};

struct header {
	const char	*name;
	const char	*value;
};

/*
 * The request: one owner (its arena) for everything a request allocates.
 * Input comes through a parameter callback so the parse stage can be unit
 * tested and fuzzed without libfcgi.
 */
struct req_io {
	const char	*(*param)(void *, const char *);
	int		 (*read)(void *, char *, size_t);
	int		 (*write)(void *, const char *, size_t);
	void		*ctx;
};

struct req {
	struct arena	*arena;
	struct req_io	 io;
	char		 id[ASPIDA_REQID_LEN + 1];
	struct timespec	 started;

	/* parse */
	enum method	 method;
	const char	*method_name;
	const char	*uri;		/* REQUEST_URI as sent */
	const char	*path;		/* raw path, no query */
	char		*segments[16];
	size_t		 nsegments;
	struct {
		char	*name;
		char	*value;
	}		 query[ASPIDA_MAX_QUERY];
	size_t		 nquery;
	int		 https;
	const char	*host;
	const char	*origin;
	const char	*user_agent;
	int		 want_csv;
	const char	*content_type;
	size_t		 content_length;
	char		*body;
	size_t		 body_len;
	struct json_object *json;

	/* client */
	struct ipaddr	 peer;		/* REMOTE_ADDR */
	struct ipaddr	 client;	/* after trusted_proxies */
	char		 client_ip[64];
	int		 xff_untrusted_loopback;

	/* routing and validation */
	const struct route *route;
	struct value	 params[ASPIDA_MAX_PATH_PARAMS];
	struct value	 qvals[ASPIDA_MAX_QUERY];
	struct value	 bvals[16];

	/* principal (authentication issue) */
	const char	*principal;

	/* response */
	enum aerr	 err;
	const char	*err_message;	/* overrides the table's sentence */
	int		 status;
	const char	*content_type_out;
	struct header	 headers[ASPIDA_MAX_HEADERS];
	size_t		 nheaders;
	struct buf	 out;
	long long	 retry_after;
};

/* errors.c */
enum aerr	 req_fail(struct req *, enum aerr, const char *);

/* req.c */
void		 req_init(struct req *, struct arena *, const struct req_io *);
const char	*req_param(struct req *, const char *);
void		 req_header(struct req *, const char *, const char *);
const struct value *req_query(const struct req *, const char *);
const struct value *req_path(const struct req *, const char *);
const struct value *req_body(const struct req *, const char *);
void		 req_new_id(char *);

/* pipeline.c: the stage loop. */
void		 pipeline_run(struct req *);

/* stage_*.c: enum aerr stage_x(struct req *). */
enum aerr	 stage_parse(struct req *);
int		 stage_client_address(struct req *);
int		 stage_client_allowed(const struct req *,
		    const struct cidr_list *);
enum aerr	 stage_route(struct req *);
enum aerr	 stage_auth(struct req *);
enum aerr	 stage_body(struct req *);
enum aerr	 stage_validate(struct req *);
enum aerr	 stage_handler(struct req *);
void		 stage_respond(struct req *);
void		 stage_audit(struct req *);
int		 stage_parse_query(struct req *, const char *);
int		 stage_parse_percent_decode(char *, size_t *);
int		 stage_parse_content_type_is_json(const char *);
int		 stage_validate_value(const struct field *, const char *,
		    size_t, struct value *, enum aerr *);
int		 asset_id_valid(const char *, size_t);
int		 timestamp_parse(const char *, size_t, long long *);
void		 timestamp_format(long long, char *, size_t);

/* router.c */
extern const struct route routes[];
extern const size_t nroutes;
const struct route *router_match(struct req *, enum aerr *);
int		 router_allow(const struct req *, char *, size_t);

/* json.c: building responses. */
struct json_object;
enum aerr	 json_respond(struct req *, int, struct json_object *);
const char	*json_text(struct json_object *, size_t *);

/* cursor.c: opaque, HMAC-protected keyset cursors. */
#define CURSOR_MAX	128
int		 cursor_encode(const char *, const long long [2], char *,
		    size_t);
int		 cursor_decode(const char *, const char *, size_t,
		    long long [2]);

/* crypto.c: libgcrypt wrappers (never our own primitives). */
void		 crypto_init(void);
void		 crypto_random(void *, size_t);
int		 crypto_hmac_sha256(const void *, size_t, const void *, size_t,
		    unsigned char [32]);
void		 crypto_sha256(const void *, size_t, unsigned char [32]);
int		 crypto_equal(const void *, const void *, size_t);
void		 hex_encode(const unsigned char *, size_t, char *);
int		 hex_decode(const char *, size_t, unsigned char *, size_t);
int		 b64url_encode(const unsigned char *, size_t, char *, size_t);
int		 b64url_decode(const char *, size_t, unsigned char *, size_t,
		    size_t *);

/* db.c: one PostgreSQL connection per worker, every query with a deadline. */
enum db_stmt {
	DB_ASSETS_LIST,
	DB_ASSET_GET,
	DB_PRICE_LATEST,
	DB_PRICES_PAGE,
	DB_EVENT_INSERT,
	DB_PING,
	DB__MAX
};
struct pg_result;
int		 db_init(void);
void		 db_close(void);
int		 db_available(void);
enum aerr	 db_query(struct req *, enum db_stmt, const char *const *,
		    struct pg_result **);
int		 db_exec_direct(enum db_stmt, const char *const *);

/* kv.c: one Redis connection per worker, with timeouts. */
struct redisReply;
int		 kv_init(void);
void		 kv_close(void);
int		 kv_available(void);
struct redisReply *kv_command(struct req *, int, const char **,
		    const size_t *);
struct redisReply *kv_script(struct req *, const char *, const char *, int,
		    int, const char **, const size_t *);
int		 kv_ping(void);
void		 crypto_sha1_hex(const char *, char *);

/* events.c: security events to syslog, log_file and security_events. */
enum severity {
	SEV_INFO,
	SEV_WARNING,
	SEV_CRITICAL,
	SEV__MAX
};
void		 event_record(struct req *, const char *, enum severity,
		    struct json_object *);
void		 event_recordf(struct req *, const char *, enum severity,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
void		 event_flush_due(void);

/* worker.c / master.c */
int		 worker_main(int);
int		 master_main(const char *, long long);
int		 master_listen(const char *, char **);
extern volatile sig_atomic_t worker_stop;

/* sandbox.c */
void		 sandbox_limits(void);

/* route_market.c, route_ops.c */
enum aerr	 route_assets(struct req *);
enum aerr	 route_price(struct req *);
enum aerr	 route_prices(struct req *);
enum aerr	 route_healthz(struct req *);
enum aerr	 route_readyz(struct req *);

#endif /* ASPIDA_H */
