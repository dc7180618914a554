/*
 * asan_canary.c: a FastCGI responder with a planted heap-buffer overflow.
 *
 * ./quickstart test builds it with the sanitizer build's flags, spawns it the
 * way it spawns aspida (spawn-fcgi, multiwatch, the same ASAN_OPTIONS and
 * UBSAN_OPTIONS) and requests it once through lighttpd. That part passes only
 * when a report file appears in the stack's san/ directory: a log_path that
 * does not reach the workers, or a spawner that drops it, would otherwise hide
 * every report aspida's workers write, since their stderr goes nowhere.
 *
 * Not part of the package and built outside automake, hence no config.h.
 */

#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
	FCGX_Request	 req;
	char		*buf;
	volatile size_t	 len = 16;	/* volatile: no compile-time warning */

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	if (FCGX_Accept_r(&req) < 0)
		return 1;
	if ((buf = malloc(len)) == NULL)
		return 1;

	/*
	 * The planted bug: one byte past the end of the heap block. The
	 * block is sent afterwards, or the compiler drops the dead store.
	 */
	memset(buf, 'x', len + 1);

	FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
	    "overflow not detected: ", req.out);
	FCGX_PutStr(buf, (int)len, req.out);
	FCGX_Finish_r(&req);
	free(buf);
	return 0;
}
