/*
 * The unit-test runner: every module's suite in one Check runner.  Tests
 * needing the configuration get a small in-memory one with a fixed
 * cursor secret, so cursor MACs are reproducible.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aspida.h"
#include "check_aspida.h"

static struct conf test_conf;

/* A configuration with the table defaults the modules under test read. */
void
check_conf_setup(void)
{
	static char	 empty[] = "";

	memset(&test_conf, 0, sizeof(test_conf));
	test_conf.max_body_bytes = 65536;
	test_conf.ingest_max_body_bytes = 262144;
	test_conf.prices_default_limit = 100;
	test_conf.prices_max_limit = 1000;
	test_conf.prices_anonymous_max_limit = 100;
	test_conf.retry_after_unavailable = 5;
	test_conf.event_flush_seconds = 3600;
	/*
	 * Thresholds at aspida.conf's minimum of 1 would fire an alert, and
	 * so reach for PostgreSQL, on the first failure a test provokes.
	 */
	test_conf.alert_login_failures_per_address = 1000000;
	test_conf.alert_login_failures_address_window = 3600;
	test_conf.alert_rate_violations_per_address = 1000000;
	test_conf.alert_rate_violations_window = 3600;
	test_conf.global_login_failures_per_min = 1000000;
	test_conf.alert_global_login_failures_window = 60;
	test_conf.alert_login_failures_per_account = 1000000;
	test_conf.alert_login_failures_account_window = 3600;
	test_conf.listen = empty;
	memset(test_conf.cursor_secret, 'k', 32);
	test_conf.cursor_secret_len = 32;
	conf = &test_conf;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	crypto_init();
	check_conf_setup();
	sr = srunner_create(json_strict_suite());
	srunner_add_suite(sr, ipaddr_suite());
	srunner_add_suite(sr, alerts_suite());
	srunner_add_suite(sr, conf_suite());
	srunner_add_suite(sr, crypto_suite());
	srunner_add_suite(sr, cursor_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, parse_suite());
	srunner_add_suite(sr, router_suite());
	srunner_add_suite(sr, token_suite());
	srunner_add_suite(sr, validate_suite());
	srunner_add_suite(sr, password_suite());
	srunner_add_suite(sr, gate_suite());
	srunner_add_suite(sr, ratelimit_suite());
	srunner_add_suite(sr, lockout_suite());
	srunner_add_suite(sr, csrf_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, forecast_suite());
	srunner_add_suite(sr, ingest_suite());
	srunner_add_suite(sr, kv_suite());
	srunner_add_suite(sr, sandbox_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
