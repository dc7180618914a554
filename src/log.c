/*
 * Logging, with OpenBSD's API (log_warn adds errno, fatal exits).  Lines
 * go to syslog and, when log_file is set, to that file as well: machines
 * without a syslog daemon (and the tests) read the file.  Each line is one
 * write(2) on an O_APPEND descriptor, so lines from many workers never
 * interleave.  Control characters are replaced before a line leaves, so
 * request data that reaches a message cannot forge log lines.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "aspida.h"

#define LOG_LINE_MAX	8192

static int	 log_foreground;
static int	 log_verbose;
static int	 log_facility = LOG_DAEMON;
static int	 log_fd = -1;
static char	*log_path;
static const char *log_ident = "aspida";

void
log_init(const char *ident, int foreground, int facility)
{
	log_ident = ident;
	log_foreground = foreground;
	log_facility = facility;
	openlog(ident, LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

/* Opens (or, with NULL or "", closes) the log file. */
void
log_set_file(const char *path)
{
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	if (path == NULL || *path == '\0')
		return;
	if ((log_path = strdup(path)) == NULL)
		return;
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log_fd == -1)
		syslog(LOG_ERR, "cannot open log file %s: %s", path,
		    strerror(errno));
}

void
log_reopen(void)
{
	char	*p;

	if (log_path == NULL)
		return;
	if ((p = strdup(log_path)) == NULL)
		return;
	log_set_file(p);
	free(p);
}

static void
log_scrub(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/*
 * Writes one finished line everywhere it should go.  The facility lets
 * authentication events go to authpriv as DESIGN.md asks.
 */
void
log_line(int priority, int facility, const char *msg)
{
	char		 line[LOG_LINE_MAX], stamp[32];
	char		 out[LOG_LINE_MAX + 128];
	struct tm	 tm;
	time_t		 now;
	int		 n;

	(void)strlcpy(line, msg, sizeof(line));
	log_scrub(line);
	syslog(priority | (facility ? facility : log_facility), "%s", line);
	if (log_fd == -1 && !log_foreground)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(out, sizeof(out), "%s %s[%ld]: %s\n", stamp, log_ident,
	    (long)getpid(), line);
	if (n <= 0)
		return;
	if (n >= (int)sizeof(out)) {
		n = sizeof(out) - 1;
		out[n - 1] = '\n';
	}
	if (log_fd != -1)
		(void)write(log_fd, out, (size_t)n);
	if (log_foreground)
		(void)write(STDERR_FILENO, out, (size_t)n);
}

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	log_line(pri, 0, msg);
}

static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX], full[LOG_LINE_MAX];
	int	saved = errno;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	(void)snprintf(full, sizeof(full), "%.*s: %.200s",
	    (int)sizeof(full) - 256, msg, strerror(saved));
	log_line(pri, 0, full);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_crit(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
