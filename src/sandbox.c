/*
 * Process hardening that applies to every worker, however it was
 * spawned: no core files and not dumpable (a core or a ptrace would
 * expose the keys), and a cap on address space so a runaway request
 * cannot take the host.  Sanitizer builds skip the cap, since ASan
 * reserves terabytes of address space.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include "aspida.h"

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
