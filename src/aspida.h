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
	CONF_DECIMAL,		/* double, digits with an optional fraction */
	CONF__MAX
};

#define CONF_MAX_SOURCES	32

/* Rate-limit classes (API.md); RATE_PREAUTH is the per-address limit
 * every /api/v1 request passes before authentication. */
enum rate_class {
	RATE_NONE,
	RATE_AUTH,
	RATE_PREDICT,
	RATE_PORTFOLIO,
	RATE_PRICES,
	RATE_DEFAULT,
	RATE_PREAUTH,
	RATE__MAX
};

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
	char		*redis_user;
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
	/* alerts (alerts.c) */
	long long	 alert_login_failures_per_address;
	long long	 alert_login_failures_address_window;
	long long	 alert_rate_violations_per_address;
	long long	 alert_rate_violations_window;
	long long	 global_login_failures_per_min;
	long long	 alert_global_login_failures_window;
	long long	 alert_login_failures_per_account;
	long long	 alert_login_failures_account_window;
	long long	 alert_5xx_percent;
	long long	 alert_5xx_window;
	long long	 alert_5xx_min_requests;
	long long	 alert_dependency_window;
	long long	 alert_quota_percent;
	long long	 alert_request_spike_factor;
	long long	 alert_request_spike_min_requests;
	long long	 alert_principal_window;
	long long	 alert_forecast_error_percent;
	long long	 alert_forecast_window;
	long long	 alert_autoblock_minutes;
	long long	 alert_flush_seconds;
	char		**alert_command;
	size_t		 nalert_command;
	long long	 alert_command_timeout;
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
	/* rate limits and automatic blocks */
	long long	 rate_per_minute[RATE__MAX];
	long long	 rate_burst[RATE__MAX];
	long long	 autoblock_violations_per_hour;
	long long	 autoblock_failed_credentials_per_hour;
	long long	 autoblock_minutes;
	struct cidr_list autoblock_ignore;
	long long	 local_limit_per_minute;
	/* scraping and overload */
	long long	 quota_daily_bytes;
	long long	 quota_anonymous_daily_bytes;
	long long	 breaker_errors;
	long long	 breaker_window;
	long long	 breaker_cooldown;
	/* forecasts */
	long long	 predict_min_points;
	long long	 predict_window_points;
	long long	 predict_max_inflight;
	/* portfolio */
	long long	 max_trade_price_age;
	long long	 price_cache_seconds;
	/* ingestion (route_ingest.c, ingest_store.c) */
	long long	 max_price;
	long long	 ingest_max_age;
	long long	 ingest_future_skew;
	double		 outlier_z;
	double		 max_jump;
	long long	 reanchor_points;
	long long	 reanchor_span;
	long long	 ingest_window_points;
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
	FT_LIST,		/* JSON array of min..max short strings */
	FT_ARRAY,		/* JSON array of min..max objects, for the handler */
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
	struct json_object *list;	/* FT_LIST: the array */
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
	int			 keys;	/* API keys may call it (API.md) */
	int			 admin;	/* admin role from admin_allow_ips */
	int			 lockable;	/* account lock answers before 429 */
	int			 quota;	/* charged to the daily download quota */
	const struct field	*params;	/* path parameters */
	const struct field	*query;
	const struct field	*body;
	enum aerr		(*handler)(struct req *);
};

#define SCOPE_READ	0x1
#define SCOPE_WRITE	0x2

enum cred_kind {
	CRED_NONE,
	CRED_BEARER,
	CRED_COOKIE,
	CRED_APIKEY
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

	/* principal, set by stage_auth */
	const char	*principal;	/* "user:ID" for events and limits */
	struct {
		enum cred_kind	 kind;
		long long	 user_id;
		int		 admin;
		long long	 gen;
		long long	 sid;
		long long	 exp;
		char		 jti[33];
		int		 pending;	/* revocation not yet checked */
		long long	 key_id;
		unsigned int	 scopes;	/* of an API key */
	}		 who;
	int		 cred_failed;	/* counts toward the automatic block */
	long long	 rl_remaining;	/* shown in RateLimit-Remaining */
	long long	 rate_denied;	/* Retry-After of a 429 held for a lock */
	char		 quota_key[96];	/* charged after the response */
	const char	*cached_price;	/* latest-price JSON from Redis */
	enum aerr	 pending;	/* held until the rate limit stage */
	const char	*pending_message;

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
enum aerr	 stage_defer(struct req *, enum aerr, const char *);

/* req.c */
void		 req_init(struct req *, struct arena *, const struct req_io *);
const char	*req_param(struct req *, const char *);
void		 req_header(struct req *, const char *, const char *);
void		 req_header_set(struct req *, const char *, const char *);
const struct value *req_query(const struct req *, const char *);
const struct value *req_path(const struct req *, const char *);
const struct value *req_body(const struct req *, const char *);
void		 req_new_id(char *);

/* pipeline.c: the stage loop. */
void		 pipeline_run(struct req *);

/* stage_*.c: enum aerr stage_x(struct req *). */
enum aerr	 stage_parse(struct req *);
int		 stage_client_address(struct req *);
enum aerr	 stage_client(struct req *);
int		 stage_client_allowed(const struct req *,
		    const struct cidr_list *);
enum aerr	 stage_route(struct req *);
enum aerr	 stage_auth(struct req *);
enum aerr	 stage_body(struct req *);
enum aerr	 stage_csrf(struct req *);
const char	*stage_auth_cookie(struct req *);
void		 stage_auth_forget_user(long long);
void		 stage_auth_revoke_family(struct req *, const char *);
enum aerr	 stage_auth_finish(struct req *, int, long long, int);
enum aerr	 stage_ratelimit(struct req *);
enum aerr	 stage_ratelimit_account(struct req *, const char *);
void		 stage_ratelimit_charge(struct req *);
int		 stage_auth_user_state(struct req *, long long, long long *,
		    int *);
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

/* token.c: access JWTs, refresh tokens, fingerprints, CSRF tokens. */
struct token_claims {
	long long	sub;		/* user id */
	long long	sid;		/* refresh family id */
	char		jti[33];	/* 16 random bytes, hex */
	long long	iat, exp;
	long long	gen;		/* the user's token generation */
	char		fgp[65];	/* hex SHA-256 fingerprint */
};
enum token_status {
	TOKEN_OK,
	TOKEN_INVALID,
	TOKEN_EXPIRED
};
void		 token_fingerprint(const char *, const struct ipaddr *,
		    char [65]);
int		 token_fgp_equal(const char *, const char *);
char		*token_mint_access(struct token_claims *, long long);
enum token_status token_verify_access(const char *, long long,
		    struct token_claims *);
char		*token_mint_refresh(long long, long long);
int		 token_parse_refresh(const char *, long long *, long long *);
int		 token_csrf(const char *, char [65]);

/* db.c: one PostgreSQL connection per worker, every query with a deadline. */
enum db_stmt {
	DB_ASSETS_LIST,
	DB_ASSET_GET,
	DB_PRICE_LATEST,
	DB_PRICES_PAGE,
	DB_EVENT_INSERT,
	DB_PING,
	DB_USER_BY_EMAIL,
	DB_USER_INSERT,
	DB_USER_GET,
	DB_USER_AUTH,
	DB_PASSWORD_CHANGE,
	DB_FAMILY_CREATE,
	DB_FAMILY_ROTATE,
	DB_FAMILY_GET,
	DB_FAMILY_REVOKE,
	DB_BLOCKS_LIST,
	DB_BLOCK_INSERT,
	DB_APIKEY_LOOKUP,
	DB_APIKEY_CREATE,
	DB_APIKEY_LIST,
	DB_APIKEY_REVOKE,
	DB_APIKEY_USAGE,
	DB_BLOCKS_ACTIVE,
	DB_BLOCK_END,
	DB_USER_EMAIL,
	DB_REVOKE_SESSIONS,
	DB_PREDICT_POINTS,
	DB_FORECAST_INSERT,
	DB_PORTFOLIO,
	DB_PORTFOLIO_TRADE,
	DB_TRADES_PAGE,
	DB_INGEST_LOAD,
	DB_INGEST_COMMIT,
	DB_FORECASTS_SCORE,
	DB_ALERT_INSERT,
	DB_ALERTS_LIST,
	DB_EVENTS_LIST,
	DB_ALERTS_PENDING,
	DB_ALERT_CLAIM,
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
int		 kv_claim(const char *, long long);
int		 kv_auth_argv(const char *, const unsigned char *, size_t,
		    const char *[3], size_t [3]);
void		 crypto_sha1_hex(const char *, char *);

/* password.c: bcrypt over a peppered pre-hash; API.md's strength rules. */
int		 password_init(void);
int		 password_init_dict(const char *);
int		 password_hash(const char *, size_t, char *, size_t);
int		 password_verify(const char *, size_t, const char *);
int		 password_check_strength(const char *, size_t, const char *,
		    const char **);

/* gate.c: concurrency gates across every worker and host, in Redis. */
#define GATE_TOKEN_LEN	32	/* 16 random bytes in hex */
int		 gate_enter(const char *, long long, long long, char *);
void		 gate_leave(const char *, const char *);

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
void		 event_flush_now(void);

/*
 * alerts.c: DESIGN.md's alert thresholds.  Counters live in Redis, fed by
 * the event script (events.c) or by per-worker tallies flushed every
 * alert_flush_seconds; a latch (SET NX with the window's TTL) fires each
 * alert once per window.  aspidactl tick evaluates the per-principal
 * rules and runs alert_command.
 */
enum alert_kind {
	ALERT_LOGIN_FAILURES_ADDRESS,
	ALERT_RATE_VIOLATIONS_ADDRESS,
	ALERT_LOGIN_FAILURES_GLOBAL,
	ALERT_SERVER_ERRORS,
	ALERT_DEPENDENCY,
	ALERT_LOGIN_FAILURES_ACCOUNT,
	ALERT_QUOTA_BURST,
	ALERT_REQUEST_SPIKE,
	ALERT_FORECAST_ERROR,
	ALERT__MAX
};
#define ALERT_SUBJECT_MAX	256
#define ALERT_KEY_MAX		(ALERT_SUBJECT_MAX + 96)
#define ALERTS_MAX_COUNTERS	3
#define ALERT_ARGV_MAX		32
struct alert_rule {
	const char	*name;
	enum severity	 severity;
	int		 autoblock;	/* the subject is an address */
};
extern const struct alert_rule alert_rules[ALERT__MAX];
/* One windowed counter an event feeds (a sliding-window estimate). */
struct alert_counter {
	enum alert_kind	 kind;
	char		 subject[ALERT_SUBJECT_MAX];
	long long	 amount;
	long long	 threshold;
	long long	 window;
	long long	 window_start;
	double		 prev_weight;	/* share of the previous window */
	char		 cur[ALERT_KEY_MAX];
	char		 prev[ALERT_KEY_MAX];
	char		 latch[ALERT_KEY_MAX];
};
/* An alert as stored and as alert_command reads it. */
struct alert {
	long long	 id;		/* 0: not stored */
	const char	*kind;
	const char	*severity;
	const char	*subject;	/* may be NULL */
	const char	*value;		/* decimal text */
	const char	*threshold;
	long long	 window;
	long long	 ts;
	const char	*details;	/* JSON text, or NULL */
};
void		 alerts_counter_init(struct alert_counter *, enum alert_kind,
		    const char *, long long, long long, long long, long long);
size_t		 alerts_event_counters(struct req *, const char *,
		    struct alert_counter *, size_t);
void		 alerts_counter_fired(struct req *,
		    const struct alert_counter *, long long);
int		 alerts_ratio_over(long long, long long, long long, long long);
int		 alerts_spike(long long, double, long long, long long);
int		 alerts_quota_over(long long, long long, long long);
struct json_object *alerts_json(const struct alert *);
void		 alerts_from_row(struct pg_result *, int, struct alert *);
int		 alerts_argv(char *const *, size_t, const char **, size_t,
		    const char **);
void		 alerts_fire(struct req *, enum alert_kind, const char *,
		    double, long long, long long);
void		 alerts_audit(struct req *);
int		 alerts_tick(struct pg_result *);

/* ratelimit.c */
#define RL_MAX_LIMITS	3
struct rl_check {
	size_t		 n;
	enum rate_class	 cls[RL_MAX_LIMITS];
	char		 key[RL_MAX_LIMITS][128];
	long long	 per_minute[RL_MAX_LIMITS];
	long long	 burst[RL_MAX_LIMITS];
	char		 viol_key[96];
	const char	*revoked_key;
	const char	*user_key;
	const char	*quota_key;
	const char	*price_key;	/* the cached latest price, if any */
	const char	*family_key;	/* the token's refresh family revoked */
	/* results */
	int		 allowed[RL_MAX_LIMITS];
	long long	 remaining[RL_MAX_LIMITS];
	long long	 retry_ms[RL_MAX_LIMITS];
	long long	 reset_ms[RL_MAX_LIMITS];
	long long	 violations;
	int		 revoked;
	long long	 gen;
	int		 admin;
	long long	 quota_used;
	char		*price;		/* cached latest price JSON, or NULL */
	int		 local;
};
int		 ratelimit_check(struct req *, struct rl_check *);
void		 ratelimit_local(struct rl_check *);
void		 ratelimit_addr_key(const struct ipaddr *, char *, size_t);

/* metrics.c: per-host counters in shared memory, for /metrics. */
#define METRICS_BUCKETS	11
enum metric {
	METRIC_RATE_LIMITED,
	METRIC_AUTH_FAILURES,
	METRIC_LOCKOUTS,
	METRIC_BLOCKED,
	METRIC_AUTOBLOCKS,
	METRIC_DEPENDENCY_ERRORS,
	METRIC_QUOTA_EXCEEDED,
	METRIC_CSRF_FAILURES,
	METRIC_PRICES_REJECTED,
	METRIC_ALERTS,
	METRIC_CIRCUIT_OPENED,
	METRIC__MAX
};
struct metrics_shm {
	unsigned long long	 requests[RATE__MAX][5];
	unsigned long long	 latency[METRICS_BUCKETS + 1];
	unsigned long long	 latency_us;
	unsigned long long	 counters[METRIC__MAX];
};
void		 metrics_init(void);
void		 metrics_count(enum metric);
void		 metrics_event(const char *);
void		 metrics_request(enum rate_class, int, double);
void		 metrics_render(struct buf *);
enum aerr	 route_metrics(struct req *);

/* breaker.c */
int		 breaker_allow(void);
void		 breaker_failure(void);
void		 breaker_success(void);
int		 breaker_is_open(void);

/* blocklist.c */
enum aerr	 blocklist_check(struct req *);
long long	 blocklist_add(struct req *, const char *, const char *,
		    long long, const char *, int);
void		 blocklist_note_violation(struct req *, long long);
void		 blocklist_note_failed_credential(struct req *);
void		 blocklist_autoblock(struct req *, const char *, long long);

/* lockout.c */
long long	 lockout_check(struct req *, const char *);
long long	 lockout_fail(struct req *, const char *);
void		 lockout_success(struct req *, const char *);
int		 lockout_clear(const char *);

/* worker.c / master.c */
int		 worker_main(int);
int		 master_main(const char *, long long);
int		 master_listen(const char *, char **);
extern volatile sig_atomic_t worker_stop;

/* sandbox.c */
void		 sandbox_limits(void);
int		 sandbox_filter(char **);

/* route_market.c, route_ops.c */
enum aerr	 route_assets(struct req *);
enum aerr	 route_price(struct req *);
enum aerr	 route_prices(struct req *);
enum aerr	 route_healthz(struct req *);
enum aerr	 route_register(struct req *);
enum aerr	 route_predict(struct req *);
enum aerr	 route_portfolio(struct req *);
enum aerr	 route_portfolio_buy(struct req *);
enum aerr	 route_portfolio_sell(struct req *);
enum aerr	 route_portfolio_trades(struct req *);
enum aerr	 route_ingest(struct req *);
enum aerr	 route_ingest_source(struct req *);
enum aerr	 route_ingest_signed(struct req *);
enum aerr	 route_keys_create(struct req *);
enum aerr	 route_keys_list(struct req *);
enum aerr	 route_keys_delete(struct req *);
void		 route_keys_note_use(struct req *);
void		 route_keys_flush_due(void);
void		 route_keys_flush_now(void);
enum aerr	 stage_authz(struct req *);
enum aerr	 route_admin_blocks_create(struct req *);
enum aerr	 route_admin_blocks_list(struct req *);
enum aerr	 route_admin_blocks_delete(struct req *);
enum aerr	 route_admin_unlock(struct req *);
enum aerr	 route_admin_revoke(struct req *);
enum aerr	 route_admin_events(struct req *);
enum aerr	 route_admin_alerts(struct req *);
enum aerr	 route_login(struct req *);
enum aerr	 route_refresh(struct req *);
enum aerr	 route_logout(struct req *);
enum aerr	 route_me(struct req *);
enum aerr	 route_password(struct req *);
const char	*email_canonical(struct req *, const char *);
int		 email_canonicalize(const char *, char *, size_t);
enum aerr	 route_readyz(struct req *);

/* forecast.c: price forecasts (least squares on log prices), decimals. */
#define FORECAST_MODEL		"ols-log-linear"
#define FORECAST_OUTLIER_K	6.0	/* default robust z to exclude a point */
#define FORECAST_MIN_FIT	3	/* points any fit needs (1 residual df) */
#define FORECAST_MAX_POINTS	100000
#define FORECAST_MAX_HORIZON	(366LL * 86400)	/* seconds */
#define FORECAST_MAX_VALUE	1e15	/* a larger high end is refused */
#define FORECAST_DECIMAL_MAX	320	/* forecast_decimal() of any double */
#define FORECAST_EINVAL		(-1)	/* invalid arguments or points */
#define FORECAST_ENODATA	(-2)	/* too few points to forecast: 409 */
struct forecast {
	double		 predicted;	/* exp(a + b x0): the median price */
	double		 low;		/* the 95 % prediction interval */
	double		 high;
	double		 confidence;	/* low / high, in (0, 1] */
	double		 slope;		/* b: ln(price) per hour */
	double		 intercept;	/* a: ln(price) at the origin */
	double		 resid_sd;	/* s, ln units */
	double		 pred_se;	/* prediction standard error, ln units */
	double		 tq;		/* t(0.975, points_used - 2) */
	long long	 origin;	/* newest timestamp given */
	long long	 target;	/* origin + horizon */
	size_t		 points_used;
	size_t		 outliers_excluded;
	const char	*model;		/* FORECAST_MODEL */
};
int		 forecast_compute(const long long *, const double *, size_t,
		    long long, size_t, double, struct forecast *,
		    const char **);
double		 forecast_t975(double);
int		 forecast_decimal(double, char *, size_t);

/*
 * ingest.c: the decisions of POST /ingest/prices, with no I/O.  The route
 * loads what they need (each listed asset's recent points, the stored
 * times the batch touches, the pending re-anchor candidates), calls
 * ingest_judge_batch(), then stores and answers what it decided.
 */
#define INGEST_DECIMAL_SIZE	40	/* 19 digits, '.', 18 decimals, NUL */
#define INGEST_PRICE_DECIMALS	12
#define INGEST_QUANTITY_DECIMALS 8
#define INGEST_QUANTITY_MAX	1000000000LL
#define INGEST_ASSET_SIZE	11	/* ^[A-Z0-9]{1,10}$ and NUL */
#define INGEST_SOURCE_SIZE	65	/* sources.name, at most 64 */
#define INGEST_WINDOW_MAX	1024	/* recent points the z-score reads */
#define INGEST_PENDING_MAX	4096	/* candidates kept per asset, at most */

/* A canonical positive decimal: the exact text to store, and its value. */
struct ingest_decimal {
	char		 text[INGEST_DECIMAL_SIZE];
	size_t		 len;
	double		 value;		/* for statistics only, never stored */
};
int		 ingest_decimal_parse(const char *, size_t, int, long long,
		    struct ingest_decimal *, const char **);

/* API.md's rejection reasons, in the order they are tried. */
enum ingest_reason {
	INGEST_ACCEPTED,
	INGEST_INVALID_ASSET,
	INGEST_OUT_OF_RANGE,
	INGEST_STALE,
	INGEST_DUPLICATE,
	INGEST_OUTLIER,
	INGEST__MAX
};
extern const char *const ingest_reasons[INGEST__MAX];

struct ingest_config {
	long long	 max_price;		/* 1e12 */
	long long	 max_age;		/* ingest_max_age, 7 days */
	long long	 future_skew;		/* 300 s */
	double		 outlier_z;		/* 6 */
	double		 max_jump;		/* 0.5 = 50 % */
	size_t		 reanchor_points;	/* 5, at least 2 */
	long long	 reanchor_span;		/* 600 s */
	size_t		 reanchor_pending;	/* run length kept, <= PENDING_MAX */
};
void		 ingest_config_default(struct ingest_config *);

/* One point of the body as the route found it; NULL/0 where absent. */
struct ingest_point {
	const char	*asset;		/* NULL: missing or not a string */
	size_t		 asset_len;
	const char	*price;		/* NULL: missing or not a string */
	size_t		 price_len;
	long long	 ts;		/* epoch seconds */
	int		 has_ts;	/* 0: missing or not RFC 3339 */
};

/* An accepted point of the asset's current level. */
struct ingest_ref {
	long long	 ts;
	double		 price;
};

/* An outlier kept toward a re-anchor; the route persists these. */
struct ingest_candidate {
	long long		 ts;
	long long		 received;	/* the server's clock on arrival */
	struct ingest_decimal	 price;
	char			 request_id[ASPIDA_REQID_LEN + 1];
	char			 source[INGEST_SOURCE_SIZE];
	int			 current;	/* out: came in this batch */
	size_t			 index;		/* out: its index, if current */
};

/* One listed asset: what the route loaded, and what it must store. */
struct ingest_asset {
	char			 id[INGEST_ASSET_SIZE];
	const struct ingest_ref	*recent;	/* newest first, ts >= anchor */
	size_t			 nrecent;
	long long		 anchor_ts;	/* in/out: level start, 0 none */
	const long long		*existing;	/* ts already stored */
	size_t			 nexisting;
	struct ingest_candidate	*cand;		/* in/out: the pending run */
	size_t			 ncand;
	size_t			 candcap;	/* >= reanchor_points */
	struct ingest_candidate	*adopt;		/* out: earlier ones to store */
	size_t			 adoptcap;	/* >= ncand on entry */
	size_t			 nadopt;
	int			 changed;	/* out: cand[] must be saved */
	int			 reanchored;	/* out: a new level, warn */
};

struct ingest_batch {
	const char	*request_id;
	const char	*source;
	long long	 now;
};

struct ingest_verdict {
	enum ingest_reason	 reason;
	size_t			 asset;		/* index in assets[], or SIZE_MAX */
	struct ingest_decimal	 price;		/* parsed, from STALE on */
	double			 z;		/* outlier test, for the event */
	double			 jump;
	int			 candidate;	/* outlier pending a re-anchor */
	int			 reanchored;	/* accepted as a new level */
};

int		 ingest_judge_batch(const struct ingest_config *,
		    const struct ingest_batch *, const struct ingest_point *,
		    size_t, struct ingest_asset *, size_t,
		    struct ingest_verdict *, const char **);

/*
 * ingest_store.c: a batch judged by ingest.c and stored in one transaction,
 * for POST /ingest/prices and `aspidactl import-prices` alike.
 */
#define INGEST_BATCH_MAX	1000	/* points per request, rows per chunk */
struct ingest_result {
	struct ingest_verdict	*verdicts;	/* one per point */
	struct ingest_asset	*assets;	/* the listed assets named */
	size_t			 nassets;
	size_t			 accepted;	/* points of the batch stored */
	size_t			 adopted;	/* earlier candidates stored */
};
void		 ingest_store_config(struct ingest_config *);
enum aerr	 ingest_store_batch(struct req *, const char *,
		    const struct ingest_point *, size_t,
		    struct ingest_result *);

#endif /* ASPIDA_H */
