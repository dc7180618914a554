/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: a configuration
 * held in memory (secrets included, every dependency unreachable), and a
 * fake FastCGI request whose parameters and body come from the input.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points; fuzz.c defines the first for every target. */
int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The clock of every target: 2026-11-28T12:00:00Z. */
#define FUZZ_NOW		1795867200LL

/* What fuzz_setup() configures, for the seeds and the oracles. */
#define FUZZ_JWT_KID		"k1"
#define FUZZ_JWT_PREVIOUS_KID	"k0"
#define FUZZ_JWT_ISSUER		"aspida"
#define FUZZ_JWT_AUDIENCE	"aspida-api"
#define FUZZ_JTI		"0123456789abcdef0123456789abcdef"
#define FUZZ_SOURCE		"feed1"

#define FUZZ_MAX_PARAMS		32

struct arena;
struct req;

/* The CGI parameters and the body of one fake request. */
struct fuzz_io {
	const char	*name[FUZZ_MAX_PARAMS];
	const char	*value[FUZZ_MAX_PARAMS];
	size_t		 n;
	const char	*body;
	size_t		 bodylen;
	size_t		 bodyoff;
	int		 writes;	/* the first is the header block */
};

/* Aborts with the message: the target's oracle found a broken promise. */
void	 fuzz_fail(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* A NUL-terminated copy of data[0..len) (malloc'd, never NULL). */
char	*fuzz_strndup(const uint8_t *, size_t);
/* Adds a parameter unless one of that name is set; NULL is absent. */
void	 fuzz_io_param(struct fuzz_io *, const char *, const char *);
/*
 * Splits text in place: "NAME=VALUE" lines up to an empty line or the
 * end become parameters, what follows the empty line the body.
 */
void	 fuzz_io_parse(struct fuzz_io *, char *, size_t);
/*
 * Starts r on the arena (emptied first), reading io.  What stage_respond
 * writes is checked: one header block of CRLF-ended lines, nothing a
 * request could smuggle a header or a second response into.
 */
void	 fuzz_req_init(struct req *, struct arena *, struct fuzz_io *);
/* The X-Signature a source's secret gives body[0..len). */
void	 fuzz_sign(const char *, size_t, char [72]);

#endif /* FUZZ_H */
