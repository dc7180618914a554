/*
 * bare_responder: the ceiling of bench/run.  A FastCGI responder that does
 * nothing but accept a request and answer it with a fixed price document
 * and the same header set aspida sends on a 200 from GET /api/v1/price/BTC
 * (security headers, Vary, a fresh X-Request-Id, the RateLimit-* trio,
 * Content-Length), so that lighttpd and the client move the same bytes for
 * both.  Whatever aspida spends beyond this is the cost of its pipeline.
 *
 * Built by bench/run with
 *	cc -O2 -o bare_responder bare_responder.c $(pkg-config --cflags --libs fcgi)
 * and run by spawn-fcgi + multiwatch on the listening socket they hand it
 * as fd 0, like aspida's workers.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#define BARE_BODY \
	"{\"asset_id\":\"BTC\",\"price\":\"64213.52\",\"currency\":\"USD\"," \
	"\"ts\":\"2026-11-28T12:00:00Z\"}"

static void
bare_on_stop(int sig)
{
	(void)sig;
	/* Nothing to finish: no state outlives a request. */
	_exit(0);
}

int
main(void)
{
	struct sigaction	 sa;
	FCGX_Request		 fr;
	char			 head[1024];
	unsigned long long	 seq = 0;
	unsigned long		 pid;
	int			 n;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bare_on_stop;
	sigemptyset(&sa.sa_mask);
	/* multiwatch turns its TERM into USR1 for its children. */
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGUSR1, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0) {
		fprintf(stderr, "bare_responder: libfcgi initialisation failed\n");
		return 1;
	}
	pid = (unsigned long)getpid();
	while (FCGX_Accept_r(&fr) >= 0) {
		/* The request id: 32 hex digits like aspida's, unique per worker. */
		n = snprintf(head, sizeof(head),
		    "Status: 200 OK\r\n"
		    "Content-Type: application/json; charset=utf-8\r\n"
		    "X-Content-Type-Options: nosniff\r\n"
		    "X-Frame-Options: DENY\r\n"
		    "Content-Security-Policy: default-src 'none'; "
		    "frame-ancestors 'none'\r\n"
		    "Referrer-Policy: no-referrer\r\n"
		    "Cache-Control: no-store\r\n"
		    "X-XSS-Protection: 0\r\n"
		    "Vary: Origin\r\n"
		    "X-Request-Id: %016lx%016llx\r\n"
		    "RateLimit-Limit: 100000000\r\n"
		    "RateLimit-Remaining: 100000000\r\n"
		    "RateLimit-Reset: 0\r\n"
		    "Content-Length: %zu\r\n"
		    "\r\n",
		    pid, ++seq, sizeof(BARE_BODY) - 1);
		if (n > 0 && (size_t)n < sizeof(head)) {
			(void)FCGX_PutStr(head, n, fr.out);
			(void)FCGX_PutStr(BARE_BODY, (int)sizeof(BARE_BODY) - 1,
			    fr.out);
		}
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	return 0;
}
