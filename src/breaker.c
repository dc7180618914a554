/*
 * A circuit breaker on dependency errors, per worker: when PostgreSQL
 * fails breaker_errors times within breaker_window seconds, heavy routes
 * (forecasts, history pages above 100 points, ingestion) answer 503 for
 * breaker_cooldown seconds instead of piling more work onto a failing
 * database; then one request probes, and success closes the circuit.
 * Per worker on purpose: it must work when Redis is what failed, and each
 * worker's share of the load is what it withholds.
 */
#include "config.h"

#include <time.h>

#include "aspida.h"

enum breaker_state {
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_PROBING
};

static enum breaker_state	 state;
static time_t			 window_start, opened_at;
static long long		 errors;

/* Returns 1 when a heavy request may run now, 0 when the circuit is open. */
int
breaker_allow(void)
{
	time_t	now = time(NULL);

	if (state == BREAKER_OPEN && now - opened_at >= conf->breaker_cooldown)
		state = BREAKER_PROBING;	/* this request is the probe */
	return state != BREAKER_OPEN;
}

void
breaker_failure(void)
{
	time_t	now = time(NULL);

	if (state == BREAKER_PROBING) {
		state = BREAKER_OPEN;
		opened_at = now;
		return;
	}
	if (now - window_start >= conf->breaker_window) {
		window_start = now;
		errors = 0;
	}
	if (++errors >= conf->breaker_errors && state == BREAKER_CLOSED) {
		state = BREAKER_OPEN;
		opened_at = now;
		metrics_count(METRIC_CIRCUIT_OPENED);
		log_warnx("circuit breaker open for %lld seconds after %lld "
		    "database errors", conf->breaker_cooldown, errors);
	}
}

void
breaker_success(void)
{
	if (state == BREAKER_PROBING)
		log_info("circuit breaker closed");
	if (state != BREAKER_OPEN)
		state = BREAKER_CLOSED;
}

int
breaker_is_open(void)
{
	return state == BREAKER_OPEN;
}
