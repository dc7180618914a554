/*
 * The standalone pre-fork master (like php-fpm): it opens the listening
 * socket itself (libfcgi's FCGX_OpenSocket binds every interface, sets no
 * mode and exits on error), forks the workers, respawns any that die,
 * replaces them all on SIGHUP with a re-read configuration, and on SIGTERM
 * lets in-flight requests finish before it exits.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aspida.h"

#define MASTER_MAX_WORKERS	256

static volatile sig_atomic_t	 got_term, got_hup, got_chld;
static pid_t			 pids[MASTER_MAX_WORKERS];
static long long		 nworkers;
static int			 listen_fd = -1;
static char			*sock_path;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGCHLD:
		got_chld = 1;
		break;
	}
}

/*
 * Opens the listening socket: "/path" (mode 0660, for the web server's
 * group), "host:port" or "[v6]:port", numeric addresses only.  Returns the
 * descriptor, or -1 with *cause set.
 */
int
master_listen(const char *addr, char **cause)
{
	struct sockaddr_un	 sun;
	struct addrinfo		 hints, *ai = NULL;
	char			 host[256], *port;
	int			 fd = -1, on = 1, rc;

	if (addr[0] == '/') {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlcpy(sun.sun_path, addr, sizeof(sun.sun_path)) >=
		    sizeof(sun.sun_path))
			goto bad;
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			goto sys;
		(void)unlink(addr);
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    chmod(addr, 0660) == -1)
			goto sys;
	} else {
		if (strlcpy(host, addr[0] == '[' ? addr + 1 : addr,
		    sizeof(host)) >= sizeof(host) ||
		    (port = strrchr(host, ':')) == NULL)
			goto bad;
		*port++ = '\0';
		if (addr[0] == '[') {
			if (port < host + 2 || port[-2] != ']')
				goto bad;
			port[-2] = '\0';
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
		if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0)
			goto bad;
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    0)) == -1)
			goto sys;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
			goto sys;
		freeaddrinfo(ai);
		ai = NULL;
	}
	if (listen(fd, 1024) == -1)
		goto sys;
	return fd;
bad:
	if (asprintf(cause, "%s: not a socket path or numeric host:port",
	    addr) == -1)
		*cause = NULL;
	goto fail;
sys:
	if (asprintf(cause, "%s: %s", addr, strerror(errno)) == -1)
		*cause = NULL;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	if (fd != -1)
		close(fd);
	return -1;
}

static void
master_harden(void)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("master hardening");
}

static pid_t
spawn_worker(void)
{
	sigset_t	none;
	pid_t		pid;

	switch (pid = fork()) {
	case -1:
		log_warn("fork");
		return -1;
	case 0:
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		_exit(worker_main(listen_fd));
	default:
		return pid;
	}
}

static void
spawn_all(void)
{
	long long	i;

	for (i = 0; i < nworkers; i++)
		if (pids[i] <= 0)
			pids[i] = spawn_worker();
}

static void
signal_all(int sig)
{
	long long	i;

	for (i = 0; i < MASTER_MAX_WORKERS; i++)
		if (pids[i] > 0)
			(void)kill(pids[i], sig);
}

static int
alive(void)
{
	long long	i;
	int		n = 0;

	for (i = 0; i < MASTER_MAX_WORKERS; i++)
		if (pids[i] > 0)
			n++;
	return n;
}

/* Reaps children; a worker that died is respawned unless stopping. */
static void
reap(int respawn)
{
	pid_t		pid;
	int		status;
	long long	i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < MASTER_MAX_WORKERS; i++) {
			if (pids[i] != pid)
				continue;
			pids[i] = 0;
			if (WIFSIGNALED(status))
				log_warnx("worker %ld killed by signal %d",
				    (long)pid, WTERMSIG(status));
			if (respawn && i < nworkers)
				pids[i] = spawn_worker();
		}
	}
}

/*
 * SIGHUP: re-read the configuration; on success hand each slot to a new
 * worker and ask the old one to finish its request and leave.  A bad
 * configuration is logged and the old one kept.
 */
static void
reload(void)
{
	struct conf	*next;
	pid_t		 old[MASTER_MAX_WORKERS];
	char		*cause = NULL;
	long long	 i;

	if ((next = conf_load(conf->path, &cause)) == NULL ||
	    conf_load_secrets(next, geteuid(), &cause) == -1) {
		log_warnx("reload refused, keeping the running configuration: %s",
		    cause ? cause : "out of memory");
		free(cause);
		conf_free(next);
		return;
	}
	conf_free(conf);
	conf = next;
	log_set_file(conf->log_file);
	memcpy(old, pids, sizeof(old));
	memset(pids, 0, sizeof(pids));
	nworkers = conf->workers;
	spawn_all();
	for (i = 0; i < MASTER_MAX_WORKERS; i++)
		if (old[i] > 0)
			(void)kill(old[i], SIGTERM);
	log_info("configuration reloaded; %lld workers", nworkers);
	/* The old pids are no longer tracked; reap() just collects them. */
}

int
master_main(const char *addr, long long workers)
{
	struct sigaction	 sa;
	sigset_t		 mask, old;
	char			*cause = NULL;
	time_t			 deadline;

	if (workers < 1 || workers > MASTER_MAX_WORKERS)
		fatalx("workers must be between 1 and %d", MASTER_MAX_WORKERS);
	/* The master holds every secret too: no core, not dumpable. */
	master_harden();
	if ((listen_fd = master_listen(addr, &cause)) == -1)
		fatalx("listen %s", cause ? cause : addr);
	if (addr[0] == '/' && (sock_path = strdup(addr)) == NULL)
		fatal("strdup");
	nworkers = workers;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &mask, &old);

	log_info("master listening on %s with %lld workers", addr, nworkers);
	spawn_all();
	while (!got_term) {
		sigsuspend(&old);
		if (got_chld) {
			got_chld = 0;
			reap(1);
		}
		if (got_hup) {
			got_hup = 0;
			reload();
		}
	}

	/* Drain: workers finish the request in hand, then exit. */
	log_info("stopping: draining workers");
	close(listen_fd);
	signal_all(SIGTERM);
	deadline = time(NULL) + conf->shutdown_timeout;
	while (alive() > 0 && time(NULL) < deadline) {
		reap(0);
		if (alive() > 0)
			usleep(50000);
	}
	if (alive() > 0) {
		log_warnx("workers did not stop in time; killing them");
		signal_all(SIGKILL);
		while (alive() > 0) {
			reap(0);
			usleep(10000);
		}
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (sock_path != NULL)
		(void)unlink(sock_path);
	log_info("stopped");
	return 0;
}
