/*
 * fuzz_conf - aspida.conf: the whole loader (conf_load) on the input as
 * a file's contents, through a memfd so that nothing touches the disk:
 * the size and line limits, control characters, keys, values of every
 * type (integers, booleans, enums, decimals, CIDR and string lists,
 * origins, key ids), quoting, "source NAME { }" blocks, duplicates, the
 * required keys and the cross-key checks.  A refusal must say why; a
 * configuration loaded and then freed must leave nothing behind.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aspida.h"
#include "fuzz.h"

static int	 fuzz_fd = -1;
static char	 fuzz_path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*c;
	char		*cause = NULL;

	if (fuzz_fd == -1) {
		if ((fuzz_fd = memfd_create("aspida.conf", MFD_CLOEXEC)) == -1)
			fuzz_fail("memfd_create failed");
		(void)snprintf(fuzz_path, sizeof(fuzz_path),
		    "/proc/self/fd/%d", fuzz_fd);
	}
	if (ftruncate(fuzz_fd, 0) == -1 ||
	    (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t)size))
		fuzz_fail("cannot write the memfd");
	if ((c = conf_load(fuzz_path, &cause)) != NULL) {
		if (cause != NULL)
			fuzz_fail("loaded, with a cause: %s", cause);
		if (c->workers < 1 || c->nsources > CONF_MAX_SOURCES)
			fuzz_fail("loaded out of bounds");
		conf_free(c);
	} else {
		if (cause == NULL ||
		    strncmp(cause, fuzz_path, strlen(fuzz_path)) != 0)
			fuzz_fail("refused without a cause naming the file");
		free(cause);
	}
	return 0;
}
