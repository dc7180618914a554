/*
 * The worker's seccomp allow-list (sandbox.c).  Each case forks a child
 * that enters the filter and then makes one system call: a forbidden one
 * must kill it with SIGSYS, an allowed one must let it exit normally.
 * Without the filter every forbidden call below succeeds, so each kill
 * case fails.  Sanitizer and coverage builds allow writing files (reports,
 * .gcda files) and, with sanitizers, ptrace for LeakSanitizer: those rows
 * are checked only in ordinary builds.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#ifdef ASPIDA_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

#include "aspida.h"
#include "check_aspida.h"

#if defined(ASPIDA_SANITIZED) || defined(ASPIDA_COVERAGE)
#define RELAXED_WRITE	1	/* reports and .gcda files are written */
#else
#define RELAXED_WRITE	0
#endif
#ifdef ASPIDA_SANITIZED
#define RELAXED_SAN	1	/* LeakSanitizer ptraces the threads */
#else
#define RELAXED_SAN	0
#endif

static char	tmpdir[] = "/tmp/check_sandbox.XXXXXX";
static char	rofile[256], wrfile[256];
static int	pipefd[2] = { -1, -1 };
static pid_t	last_child;

static void
setup(void)
{
	int	fd;

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	(void)snprintf(rofile, sizeof(rofile), "%s/ro", tmpdir);
	(void)snprintf(wrfile, sizeof(wrfile), "%s/wr", tmpdir);
	fd = open(rofile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "data", 4), 4);
	close(fd);
	/* pipe2 is not on the list: the child inherits this one. */
	ck_assert_int_eq(pipe(pipefd), 0);
}

static void
teardown(void)
{
	(void)unlink(rofile);
	(void)unlink(wrfile);
	(void)rmdir(tmpdir);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * Runs fn in a child under the filter; returns its wait status.  The
 * child leaves with _exit so that nothing at exit (stdio, gcov, LSan) can
 * muddle what fn did.
 */
static int
run_filtered(int (*fn)(void))
{
	pid_t	pid;
	int	status;
	char	*cause = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (sandbox_filter(&cause) == -1) {
			fprintf(stderr, "sandbox_filter: %s\n",
			    cause ? cause : "?");
			_exit(99);
		}
		_exit(fn());
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	last_child = pid;
	return status;
}

/* Forbidden calls: each returns normally only when the filter let it. */

static int
call_execve(void)
{
	char *const	argv[] = { "/bin/true", NULL };
	char *const	envp[] = { NULL };

	(void)execve("/bin/true", argv, envp);
	return 10;
}

static int
call_fork_raw(void)
{
	long	pid;

	/* clone without CLONE_THREAD, the way fork() makes a process. */
	pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (pid == 0)
		_exit(0);
	return 11;
}

static int
call_fork(void)
{
	pid_t	pid;

	if ((pid = fork()) == 0)
		_exit(0);
	return 12;
}

static int
call_ptrace(void)
{
	(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 13;
}

static int
call_open_write(void)
{
	(void)open(wrfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return 14;
}

static int
call_open_rdwr(void)
{
	(void)open(rofile, O_RDWR | O_CLOEXEC);
	return 15;
}

static int
call_open_append(void)
{
	(void)open(rofile, O_RDONLY | O_APPEND | O_CLOEXEC);
	return 16;
}

static int
call_socket_netlink(void)
{
	(void)socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	return 17;
}

static int
call_socket_packet(void)
{
	(void)socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	return 18;
}

static int
call_mmap_exec(void)
{
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 19;
}

static int
call_mprotect_exec(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	(void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
	return 20;
}

static int
call_kill_other(void)
{
	/* Signalling another process (the parent) is not needed. */
	(void)kill(getppid(), 0);
	return 21;
}

static int
call_setuid(void)
{
	(void)setuid(getuid());
	return 22;
}

static int
call_unlink(void)
{
	(void)unlink(rofile);
	return 23;
}

static const struct {
	int		  line;
	const char	 *what;
	int		(*fn)(void);
	int		  relaxed;	/* allowed in this build */
} forbidden[] = {
	{ __LINE__, "execve", call_execve, 0 },
	{ __LINE__, "clone without CLONE_THREAD", call_fork_raw, 0 },
	{ __LINE__, "fork()", call_fork, 0 },
	{ __LINE__, "ptrace", call_ptrace, RELAXED_SAN },
	{ __LINE__, "open O_WRONLY|O_CREAT", call_open_write, RELAXED_WRITE },
	{ __LINE__, "open O_RDWR", call_open_rdwr, RELAXED_WRITE },
	{ __LINE__, "open O_APPEND", call_open_append, RELAXED_WRITE },
	{ __LINE__, "socket AF_NETLINK", call_socket_netlink, 0 },
	{ __LINE__, "socket AF_PACKET", call_socket_packet, 0 },
	{ __LINE__, "mmap PROT_EXEC", call_mmap_exec, 0 },
	{ __LINE__, "mprotect PROT_EXEC", call_mprotect_exec, 0 },
	{ __LINE__, "kill another process", call_kill_other, 0 },
	{ __LINE__, "setuid", call_setuid, 0 },
	{ __LINE__, "unlink", call_unlink, 0 },
};

START_TEST(test_forbidden_call_kills)
{
	int	status;

	if (forbidden[_i].relaxed)
		return;
	status = run_filtered(forbidden[_i].fn);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	    "line %d: %s: status 0x%x, not killed by SIGSYS",
	    forbidden[_i].line, forbidden[_i].what, status);
}
END_TEST

/* Allowed calls: what a worker does while serving. */

static void *
thread_main(void *arg)
{
	return arg;
}

static int
call_allowed(void)
{
	struct timespec	 ts;
	pthread_t	 t;
	void		*ret = NULL;
	char		 buf[8], line[128];
	int		 fd, s, seccomp = 0;
	FILE		*f;

	/* The filter is in force: the kernel says so. */
	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return 30;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Seccomp:", 8) == 0)
			seccomp = atoi(line + 8);
	fclose(f);
	if (seccomp != 2)
		return 31;
	if (write(pipefd[1], "x", 1) != 1 || read(pipefd[0], buf, 1) != 1)
		return 33;
	if (getpid() <= 0 || getuid() != geteuid())
		return 34;
	/* The system call itself, not the vDSO. */
	if (syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts) != 0)
		return 35;
	if ((fd = open(rofile, O_RDONLY | O_CLOEXEC)) == -1 ||
	    read(fd, buf, 4) != 4 || memcmp(buf, "data", 4) != 0 ||
	    lseek(fd, 0, SEEK_SET) != 0)
		return 36;
	close(fd);
	if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return 37;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 38;
	close(s);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 39;
	close(s);
	if ((s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 &&
	    errno != EAFNOSUPPORT)
		return 40;
	if (s != -1)
		close(s);
	/* A thread, as libpq's cancel makes (clone3 falls back to clone). */
	if (pthread_create(&t, NULL, thread_main, buf) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != buf)
		return 41;
	free(malloc(1 << 20));		/* mmap and munmap */
	return 0;
}

START_TEST(test_allowed_calls_run)
{
	int	status;

	status = run_filtered(call_allowed);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status 0x%x (exit %d, signal %d)", status,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}
END_TEST

/* A thread's call is judged like the main thread's (TSYNC, inheritance). */
static void *
thread_execve(void *arg)
{
	(void)arg;
	(void)call_execve();
	return NULL;
}

static int
call_execve_in_thread(void)
{
	pthread_t	t;

	if (pthread_create(&t, NULL, thread_execve, NULL) != 0)
		return 50;
	(void)pthread_join(t, NULL);
	return 51;
}

START_TEST(test_forbidden_call_in_thread_kills_process)
{
	int	status;

	status = run_filtered(call_execve_in_thread);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
	    "status 0x%x", status);
}
END_TEST

#ifdef ASPIDA_SANITIZED
/*
 * A sanitizer build under the filter still reports: the report file is
 * written and the process ends with ASan's exit code, not SIGSYS.
 */
static char	reportbase[300];

static int
call_heap_overflow(void)
{
	volatile size_t	 n = 16;
	char		*p;

	__sanitizer_set_report_path(reportbase);
	/* A size UBSan cannot know, so that ASan is the one to report. */
	p = malloc(n);
	((volatile char *)p)[n] = 1;
	free(p);
	return 60;
}

START_TEST(test_sanitizer_report_under_filter)
{
	char	 path[320];
	int	 status;
	FILE	*f;
	char	 line[256];
	int	 found = 0;

	(void)snprintf(reportbase, sizeof(reportbase), "%s/asan", tmpdir);
	status = run_filtered(call_heap_overflow);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
	    WEXITSTATUS(status) != 60, "status 0x%x", status);
	/* The report is named after the child. */
	(void)snprintf(path, sizeof(path), "%s.%d", reportbase,
	    (int)last_child);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "no report %s", path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "heap-buffer-overflow") != NULL)
			found = 1;
	fclose(f);
	(void)unlink(path);
	ck_assert_msg(found, "no heap-buffer-overflow report under %s",
	    reportbase);
}
END_TEST
#endif

Suite *
sandbox_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("sandbox");
	/*
	 * Tagged for the valgrind run to leave out: valgrind cannot run
	 * seccomp(2) (it knows no handler for the call), so under it the
	 * filter is never installed and every case would fail for that.
	 */
	tc = tcase_create("filter");
	tcase_set_tags(tc, "seccomp");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_forbidden_call_kills, 0,
	    (int)(sizeof(forbidden) / sizeof(forbidden[0])));
	tcase_add_test(tc, test_allowed_calls_run);
	tcase_add_test(tc, test_forbidden_call_in_thread_kills_process);
#ifdef ASPIDA_SANITIZED
	tcase_add_test(tc, test_sanitizer_report_under_filter);
#endif
	suite_add_tcase(s, tc);
	return s;
}
