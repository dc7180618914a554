/*
 * The worker: accepts one FastCGI request at a time and runs it through
 * the pipeline.  TERM and USR1 (what mod_fcgid and multiwatch send) are
 * blocked while a request runs and delivered only around FCGX_Accept_r,
 * so a stop request lets the request in flight finish: libfcgi's reads
 * do not retry EINTR and would otherwise cut a body short.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <fcgiapp.h>

#include "aspida.h"

volatile sig_atomic_t worker_stop;

static void
on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
	FCGX_ShutdownPending();
}

static const char *
fcgx_param(void *ctx, const char *name)
{
	FCGX_Request	*fr = ctx;

	return FCGX_GetParam(name, fr->envp);
}

static int
fcgx_read(void *ctx, char *buf, size_t n)
{
	FCGX_Request	*fr = ctx;

	if (n > 1 << 30)
		n = 1 << 30;
	return FCGX_GetStr(buf, (int)n, fr->in);
}

static int
fcgx_write(void *ctx, const char *buf, size_t n)
{
	FCGX_Request	*fr = ctx;

	if (n > 1 << 30)
		return -1;
	return FCGX_PutStr(buf, (int)n, fr->out);
}

/*
 * Serves requests on the listening socket until told to stop or until
 * max_requests_per_worker is reached (the supervisor then starts a fresh
 * worker).  Returns the exit status.
 */
int
worker_main(int listen_fd)
{
	struct sigaction	 sa;
	sigset_t		 stopset;
	FCGX_Request		 fr;
	struct req_io		 io;
	struct req		 r;
	struct arena		*arena;
	long long		 served = 0;
	char			*cause = NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;	/* no SA_RESTART: interrupt accept() */
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGUSR1, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGUSR1);
	sigaddset(&stopset, SIGINT);

	sandbox_limits();
	if (password_init() == -1)
		fatalx("password checks cannot start (is cracklib-runtime "
		    "installed?)");
	metrics_init();
	(void)db_init();
	(void)kv_init();
	arena = arena_new();
	if (FCGX_InitRequest(&fr, listen_fd, 0) != 0)
		fatalx("FCGX_InitRequest failed");
	/*
	 * Everything that needs more than serving (configuration, secrets,
	 * the log file, the dictionary's settings, the shared counters) is
	 * open by now: from here on, only the allow-list (sandbox.c).
	 */
	if (conf->sandbox && sandbox_filter(&cause) == -1)
		fatalx("sandbox = yes, but the system-call filter cannot be "
		    "loaded: %s", cause ? cause : "out of memory");
	io.param = fcgx_param;
	io.read = fcgx_read;
	io.write = fcgx_write;
	io.ctx = &fr;

	(void)sigprocmask(SIG_BLOCK, &stopset, NULL);
	while (!worker_stop) {
		int rc;

		(void)sigprocmask(SIG_UNBLOCK, &stopset, NULL);
		rc = worker_stop ? -1 : FCGX_Accept_r(&fr);
		(void)sigprocmask(SIG_BLOCK, &stopset, NULL);
		if (rc < 0)
			break;
		req_init(&r, arena, &io);
		pipeline_run(&r);
		FCGX_Finish_r(&fr);
		arena_reset(arena);
		served++;
		if (conf->max_requests_per_worker > 0 &&
		    served >= conf->max_requests_per_worker) {
			log_debug("worker served %lld requests; retiring", served);
			break;
		}
	}
	FCGX_Free(&fr, 1);
	arena_free(arena);
	db_close();
	kv_close();
	return 0;
}
