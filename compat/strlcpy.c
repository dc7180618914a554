/*
 * strlcpy for C libraries that lack it (glibc before 2.38): copies at most
 * size - 1 bytes and always terminates.  Returns strlen(src), so truncation
 * is detected by a result >= size.
 */
#include "config.h"

#include <string.h>

size_t	strlcpy(char *, const char *, size_t);

size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size > 0) {
		size_t n = len >= size ? size - 1 : len;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
