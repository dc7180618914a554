/*
 * Process hardening that applies to every worker, however it was
 * spawned: no core files and not dumpable (a core or a ptrace would
 * expose the keys), and a cap on address space so a runaway request
 * cannot take the host.  Sanitizer builds skip the cap, since ASan
 * reserves terabytes of address space.
 *
 * Once a worker has read its configuration and secrets, opened its log
 * file and connected, sandbox_filter() confines it to a seccomp
 * allow-list of the system calls serving needs; anything else kills the
 * whole process (SIGSYS), which its supervisor then replaces.  The list
 * was measured with strace -f on workers of a test stack while the
 * integration suite ran (outages and reconnects included), not guessed;
 * where the kernel allows it, arguments narrow a call further: files
 * open read-only, memory never becomes executable, sockets are unix or
 * IP only, and clone must make a thread (libpq's cancel runs in one),
 * never a process.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "aspida.h"

/*
 * Allowed whatever their arguments.  Names, not numbers, so that one list
 * serves x86_64 and aarch64: a name the native architecture lacks (poll,
 * select or time on aarch64) resolves to a pseudo number that libseccomp
 * drops.
 */
static const char *const sandbox_calls[] = {
	/* FastCGI on the inherited socket; libpq, hiredis and syslog. */
	"accept", "read", "recvfrom", "write", "sendto",
	"close", "shutdown", "connect", "getsockname", "getsockopt",
	"setsockopt", "fcntl", "poll", "ppoll",
	/* cracklib's dictionary; the passwd lookups of libpq and cracklib. */
	"lseek", "newfstatat", "uname", "sysinfo",
	/* Identity, randomness (libgcrypt), signals. */
	"getpid", "getuid", "geteuid", "getrandom",
	"rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "restart_syscall",
	/*
	 * The vDSO answers these without entering the kernel; the system
	 * calls are its fallback on clock sources it cannot read.
	 */
	"clock_gettime", "gettimeofday", "time",
	/* Memory that never becomes executable (mmap, mprotect below). */
	"brk", "munmap", "mremap", "madvise",
	/* libpq's cancel thread. */
	"futex", "set_robust_list", "rseq", "gettid",
	"exit", "exit_group",
	NULL
};

#ifdef ASPIDA_SANITIZED
/*
 * ASan, UBSan and LSan at run time and at exit: reports go to files
 * under log_path (opened for writing: see openat below), and LeakSanitizer
 * stops the world by cloning a tracer task that ptraces every thread,
 * after making the process dumpable again for the time being.
 */
static const char *const sandbox_san_calls[] = {
	"sigaltstack", "sched_getaffinity", "sched_yield", "getppid",
	"getdents", "getdents64", "open", "ptrace", "wait4", "readlink",
	"readlinkat", "pipe2",
	NULL
};
#endif

#ifdef ASPIDA_COVERAGE
/* gcov merges its counters into .gcda files at exit, under locks. */
static const char *const sandbox_cov_calls[] = {
	"mkdir", "mkdirat", "access", "faccessat", "faccessat2",
	NULL
};
#endif

/* Sets *cause for a failed libseccomp call (which returns -errno). */
static int
sandbox_fail(char **cause, const char *what, int rc)
{
	if (asprintf(cause, "%s: %s", what, strerror(-rc)) == -1)
		*cause = NULL;
	return -1;
}

static int
sandbox_allow_list(scmp_filter_ctx ctx, const char *const *names,
    char **cause)
{
	int	nr, rc;

	for (; *names != NULL; names++) {
		if ((nr = seccomp_syscall_resolve_name(*names)) ==
		    __NR_SCMP_ERROR) {
			if (asprintf(cause, "libseccomp does not know the "
			    "system call %s", *names) == -1)
				*cause = NULL;
			return -1;
		}
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			return sandbox_fail(cause, *names, rc);
	}
	return 0;
}

static int
sandbox_rules(scmp_filter_ctx ctx, char **cause)
{
	/* Anything that could write a file: the log file is already open. */
	const scmp_datum_t	 wrflags = O_WRONLY | O_RDWR | O_CREAT |
	    O_TRUNC | O_APPEND;
	int			 rc = 0;

	if (sandbox_allow_list(ctx, sandbox_calls, cause) == -1)
		return -1;

#if defined(ASPIDA_SANITIZED) || defined(ASPIDA_COVERAGE)
	/* Sanitizer reports and .gcda files are written after start-up. */
	(void)wrflags;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat),
	    0)) < 0)
		return sandbox_fail(cause, "openat", rc);
#else
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, wrflags, 0))) < 0)
		return sandbox_fail(cause, "openat", rc);
#endif

	/* Anonymous and file mappings, never executable ones. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return sandbox_fail(cause, "mmap", rc);
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		return sandbox_fail(cause, "mprotect", rc);

	/* PostgreSQL and Redis over TCP or a unix socket; syslog. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6))) < 0)
		return sandbox_fail(cause, "socket", rc);

	/*
	 * Threads only: clone must share the thread group.  clone3 passes
	 * its flags in memory, where a filter cannot look, so it fails with
	 * ENOSYS and glibc falls back to clone.
	 */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) < 0)
		return sandbox_fail(cause, "clone", rc);
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
	    SCMP_SYS(clone3), 0)) < 0)
		return sandbox_fail(cause, "clone3", rc);

	/* abort() and raise() signal the process itself, nothing else. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()))) < 0)
		return sandbox_fail(cause, "tgkill", rc);

#ifdef ASPIDA_SANITIZED
	if (sandbox_allow_list(ctx, sandbox_san_calls, cause) == -1)
		return -1;
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_SET_DUMPABLE))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
	    SCMP_A0(SCMP_CMP_EQ, PR_SET_PTRACER))) < 0)
		return sandbox_fail(cause, "prctl", rc);
	/* isatty() on the report's descriptor, to decide on colours. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, TCGETS))) < 0)
		return sandbox_fail(cause, "ioctl", rc);
	/*
	 * LeakSanitizer's tracer: a task sharing memory, not a thread.
	 * Without CLONE_VM it would be a new process (fork): still killed.
	 */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_VM,
	    CLONE_VM))) < 0)
		return sandbox_fail(cause, "clone", rc);
#endif
#ifdef ASPIDA_COVERAGE
	if (sandbox_allow_list(ctx, sandbox_cov_calls, cause) == -1)
		return -1;
#endif
	return 0;
}

/*
 * Enters the allow-list for good; every thread of the process, and any
 * it starts, inherits it.  Returns -1 with *cause set when the filter
 * cannot be built or loaded (a kernel without seccomp, an architecture
 * this list was not made for): the caller must not serve then.
 */
int
sandbox_filter(char **cause)
{
	scmp_filter_ctx	ctx;
	uint32_t	arch;
	int		rc;

	*cause = NULL;
	arch = seccomp_arch_native();
	if (arch != SCMP_ARCH_X86_64 && arch != SCMP_ARCH_AARCH64) {
		if (asprintf(cause, "no system-call allow-list for this "
		    "architecture (only x86_64 and aarch64)") == -1)
			*cause = NULL;
		return -1;
	}
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		if (asprintf(cause, "seccomp_init failed") == -1)
			*cause = NULL;
		return -1;
	}
	/* x32 and i386 calls on x86_64 die too; no new privileges. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		seccomp_release(ctx);
		return sandbox_fail(cause, "seccomp_attr_set", rc);
	}
	if (sandbox_rules(ctx, cause) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		seccomp_release(ctx);
		return sandbox_fail(cause, "seccomp_load", rc);
	}
	seccomp_release(ctx);
	return 0;
}

void
sandbox_limits(void)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE");
#ifndef ASPIDA_SANITIZED
	if (conf->memory_limit_mb > 0) {
		rl.rlim_cur = rl.rlim_max =
		    (rlim_t)conf->memory_limit_mb * 1024 * 1024;
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			fatal("setrlimit RLIMIT_AS");
	}
#endif
}
