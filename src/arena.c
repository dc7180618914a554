/*
 * Request memory.  Every allocation a request makes comes from its arena,
 * and every library object it holds (a PGresult, a json_object, a Redis
 * reply) is registered here with its destructor, so one arena_reset() at
 * the end of the request releases everything: no path can leak.  Chunks are
 * wiped before reuse so one request's secrets never show in the next.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"

#define ARENA_CHUNK	(64 * 1024)
#define ARENA_ALIGN	16

struct chunk {
	struct chunk	*next;
	size_t		 size;
	size_t		 used;
	/* Aligned like malloc's memory, or rounding sizes would not help. */
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct defer {
	struct defer	*next;
	void		(*fn)(void *);
	void		*arg;
};

struct arena {
	struct chunk	*head;		/* the first chunk survives resets */
	struct defer	*defers;
	size_t		 total;
};

static struct chunk *
chunk_new(size_t size)
{
	struct chunk	*c;

	if ((c = calloc(1, sizeof(*c) + size)) == NULL)
		fatal("arena");
	c->size = size;
	return c;
}

struct arena *
arena_new(void)
{
	struct arena	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("arena");
	a->head = chunk_new(ARENA_CHUNK);
	return a;
}

/*
 * Returns zeroed memory that lives until the next arena_reset().  Running
 * out of memory is fatal: the worker dies, one request is lost and the
 * supervisor respawns it (STYLE.md).
 */
void *
arena_alloc(struct arena *a, size_t n)
{
	struct chunk	*c = a->head;
	size_t		 off;

	if (n > SIZE_MAX - ARENA_ALIGN)
		fatalx("arena: allocation too large");
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	off = c->used;
	if (n > c->size - off) {
		c = chunk_new(n > ARENA_CHUNK ? n : ARENA_CHUNK);
		c->next = a->head;
		a->head = c;
		off = 0;
	}
	c->used = off + n;
	a->total += n;
	return c->data + off;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char	*p;

	if (n == SIZE_MAX)
		fatalx("arena: string too long");
	p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("arena_printf");
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* Registers fn(arg) to run at the next reset, newest first. */
void
arena_defer(struct arena *a, void (*fn)(void *), void *arg)
{
	struct defer	*d;

	if (arg == NULL)
		return;
	d = arena_alloc(a, sizeof(*d));
	d->fn = fn;
	d->arg = arg;
	d->next = a->defers;
	a->defers = d;
}

void
arena_reset(struct arena *a)
{
	struct chunk	*c, *next;
	struct defer	*d;

	/* Destructors first: their records live in the chunks. */
	for (d = a->defers; d != NULL; d = d->next)
		d->fn(d->arg);
	a->defers = NULL;
	for (c = a->head; c->next != NULL; c = next) {
		next = c->next;
		explicit_bzero(c->data, c->used);
		free(c);
	}
	a->head = c;
	explicit_bzero(c->data, c->used);
	c->used = 0;
	a->total = 0;
}

void
arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	arena_reset(a);
	free(a->head);
	free(a);
}

size_t
arena_used(const struct arena *a)
{
	return a->total;
}
