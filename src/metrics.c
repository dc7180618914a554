/*
 * Metrics for /metrics (Prometheus text format): counters in one POSIX
 * shared-memory segment per deployment on this host, so every worker,
 * however spawned, adds to the same numbers and a scrape sees the host's
 * totals.  Counters are 64-bit and updated with atomic adds; nothing is
 * ever read back by a worker but the scrape.  Security events feed the
 * security counters in one place (events.c calls metrics_event()).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aspida.h"

static const double buckets[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5
};

static const char *const classes[RATE__MAX] = {
	[RATE_NONE] = "ops",
	[RATE_AUTH] = "auth",
	[RATE_PREDICT] = "predict",
	[RATE_PORTFOLIO] = "portfolio",
	[RATE_PRICES] = "prices",
	[RATE_DEFAULT] = "default",
	[RATE_PREAUTH] = "none",
};

/* Security-event kinds counted, and the metric each feeds. */
static const struct {
	const char	*kind;
	enum metric	 metric;
} event_metrics[] = {
	{ "rate_limited", METRIC_RATE_LIMITED },
	{ "auth_failure", METRIC_AUTH_FAILURES },
	{ "login_failure", METRIC_AUTH_FAILURES },
	{ "fingerprint_mismatch", METRIC_AUTH_FAILURES },
	{ "account_locked", METRIC_LOCKOUTS },
	{ "blocked_request", METRIC_BLOCKED },
	{ "ip_autoblocked", METRIC_AUTOBLOCKS },
	{ "dependency_unavailable", METRIC_DEPENDENCY_ERRORS },
	{ "quota_exceeded", METRIC_QUOTA_EXCEEDED },
	{ "csrf_failure", METRIC_CSRF_FAILURES },
	{ "price_rejected", METRIC_PRICES_REJECTED },
	{ "alert", METRIC_ALERTS },
};

static const char *const metric_names[METRIC__MAX] = {
	[METRIC_RATE_LIMITED] = "aspida_rate_limited_total",
	[METRIC_AUTH_FAILURES] = "aspida_auth_failures_total",
	[METRIC_LOCKOUTS] = "aspida_lockouts_total",
	[METRIC_BLOCKED] = "aspida_blocked_requests_total",
	[METRIC_AUTOBLOCKS] = "aspida_autoblocks_total",
	[METRIC_DEPENDENCY_ERRORS] = "aspida_dependency_errors_total",
	[METRIC_QUOTA_EXCEEDED] = "aspida_quota_exceeded_total",
	[METRIC_CSRF_FAILURES] = "aspida_csrf_failures_total",
	[METRIC_PRICES_REJECTED] = "aspida_prices_rejected_total",
	[METRIC_ALERTS] = "aspida_alerts_total",
	[METRIC_CIRCUIT_OPENED] = "aspida_circuit_opened_total",
};

static struct metrics_shm *shm;

/*
 * Maps the host's segment, named after the configuration file so two
 * deployments on one host never share counters.  Failure only loses
 * metrics, never requests: the functions below then do nothing.
 */
void
metrics_init(void)
{
	unsigned char	 d[32];
	char		 name[64], hex[17];
	int		 fd;

	if (shm != NULL)
		return;
	crypto_sha256(conf->path, strlen(conf->path), d);
	hex_encode(d, 8, hex);
	(void)snprintf(name, sizeof(name), "/aspida-%ld-%s", (long)geteuid(),
	    hex);
	if ((fd = shm_open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("metrics: shm_open %s", name);
		return;
	}
	if (ftruncate(fd, sizeof(*shm)) == -1) {
		log_warn("metrics: ftruncate");
		close(fd);
		return;
	}
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (shm == MAP_FAILED) {
		log_warn("metrics: mmap");
		shm = NULL;
	}
}

static void
add(unsigned long long *p, unsigned long long n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

void
metrics_count(enum metric m)
{
	if (shm != NULL)
		add(&shm->counters[m], 1);
}

void
metrics_event(const char *kind)
{
	size_t	i;

	for (i = 0; i < sizeof(event_metrics) / sizeof(event_metrics[0]); i++)
		if (strcmp(kind, event_metrics[i].kind) == 0)
			metrics_count(event_metrics[i].metric);
}

/* A finished request: its class, status and duration. */
void
metrics_request(enum rate_class cls, int status, double seconds)
{
	int	s = status / 100, b;

	if (shm == NULL || (unsigned)cls >= RATE__MAX)
		return;
	if (s < 1 || s > 5)
		s = 5;
	add(&shm->requests[cls][s - 1], 1);
	for (b = 0; b < METRICS_BUCKETS && seconds > buckets[b]; b++)
		;
	add(&shm->latency[b], 1);
	add(&shm->latency_us, (unsigned long long)(seconds * 1e6));
}

static unsigned long long
get(const unsigned long long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Writes the Prometheus text exposition into out. */
void
metrics_render(struct buf *out)
{
	unsigned long long	 cum = 0;
	int			 c, s, b, m;

	if (shm == NULL)
		return;
	buf_puts(out, "# HELP aspida_requests_total Requests answered, by "
	    "route class and status class.\n"
	    "# TYPE aspida_requests_total counter\n");
	for (c = 0; c < RATE__MAX; c++)
		for (s = 0; s < 5; s++)
			if (c != RATE_PREAUTH)
				buf_printf(out, "aspida_requests_total{class=\"%s\","
				    "status=\"%dxx\"} %llu\n", classes[c], s + 1,
				    get(&shm->requests[c][s]));
	buf_puts(out, "# HELP aspida_request_duration_seconds Time from "
	    "accepting a request to its audit.\n"
	    "# TYPE aspida_request_duration_seconds histogram\n");
	for (b = 0; b < METRICS_BUCKETS; b++) {
		cum += get(&shm->latency[b]);
		buf_printf(out, "aspida_request_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", buckets[b], cum);
	}
	cum += get(&shm->latency[METRICS_BUCKETS]);
	buf_printf(out, "aspida_request_duration_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n", cum);
	buf_printf(out, "aspida_request_duration_seconds_sum %.6f\n",
	    (double)get(&shm->latency_us) / 1e6);
	buf_printf(out, "aspida_request_duration_seconds_count %llu\n", cum);
	for (m = 0; m < METRIC__MAX; m++)
		buf_printf(out, "# TYPE %s counter\n%s %llu\n", metric_names[m],
		    metric_names[m], get(&shm->counters[m]));
}
