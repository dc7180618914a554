/*
 * check_aspida.h - the Check suites of the unit tests, one per module;
 * check_main.c runs them all.
 */
#ifndef CHECK_ASPIDA_H
#define CHECK_ASPIDA_H

#include <check.h>

Suite *json_strict_suite(void);
Suite *alerts_suite(void);
Suite *ipaddr_suite(void);
Suite *conf_suite(void);

Suite *crypto_suite(void);
Suite *cursor_suite(void);
Suite *json_suite(void);
Suite *parse_suite(void);
Suite *router_suite(void);
Suite *token_suite(void);
Suite *validate_suite(void);
Suite *password_suite(void);
Suite *gate_suite(void);
Suite *ratelimit_suite(void);
Suite *lockout_suite(void);
Suite *csrf_suite(void);
Suite *auth_suite(void);
Suite *forecast_suite(void);
Suite *ingest_suite(void);
Suite *kv_suite(void);
Suite *sandbox_suite(void);

/* check_main.c */
void check_conf_setup(void);

#endif /* CHECK_ASPIDA_H */
