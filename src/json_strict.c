/*
 * json_strict.c - a validating pre-scan of request bodies, run before
 * json-c sees them.
 *
 * json-c 0.16 accepts single quotes, NaN and Infinity, raw control
 * characters, overlong and surrogate UTF-8, lone "\ud800" escapes, and
 * merges duplicate keys with the last one winning (LIBRARIES.md section 4).
 * API.md promises strict RFC 8259, so every body is checked here first:
 * one value with only whitespace around it, the RFC's number and string
 * grammar, well-formed UTF-8, no NUL (not even as "\u0000", since no field
 * may carry one), no duplicate keys, and bounded nesting.
 *
 * The scan is iterative with an explicit stack, never reads outside
 * [buf, buf + len), and allocates only the table of keys of the objects
 * still open, which duplicate detection needs.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aspida.h"

/* The largest max_depth a caller may ask for: the stack lives on ours. */
#define JSON_STRICT_MAX_DEPTH	256

/* A key as written, quotes excluded; compared decoded. */
struct json_strict_key {
	const unsigned char	*p;
	size_t			 len;
	int			 escaped;	/* holds a backslash */
};

struct json_strict_frame {
	int			 object;
	size_t			 keybase;	/* its first key in keys[] */
};

struct json_strict {
	const unsigned char	*p;
	const unsigned char	*end;
	const char		*errstr;
	struct json_strict_key	*keys;		/* keys of the open objects */
	size_t			 nkeys;
	size_t			 keycap;
};

enum json_strict_state {
	JSON_STRICT_VALUE,	/* a value must come next */
	JSON_STRICT_KEY,	/* an object key must come next */
	JSON_STRICT_AFTER	/* a value ended */
};

static int
json_strict_fail(struct json_strict *js, const char *errstr)
{
	js->errstr = errstr;
	return -1;
}

/*
 * Decode one UTF-8 sequence at p, following the table of well-formed
 * sequences in RFC 3629 section 4: no overlong forms, no surrogates
 * (ED A0..BF), nothing above U+10FFFF.  Returns its length, 1 to 4, with
 * the code point in *cp, or 0 when the bytes are ill-formed or run past end.
 */
static size_t
json_strict_utf8(const unsigned char *p, const unsigned char *end,
    uint32_t *cp)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	uint32_t	 c;
	size_t		 n, i;

	if (p >= end)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c < 0xc2)			/* a continuation, or overlong C0/C1 */
		return 0;
	if (c < 0xe0) {
		n = 2;
		c &= 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		c &= 0x0f;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c < 0xf5) {
		n = 4;
		c &= 0x07;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	c = (c << 6) | (p[1] & 0x3f);
	for (i = 2; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	*cp = c;
	return n;
}

/*
 * Read the four hex digits of a \u escape at p.
 * Returns 0 with the value in *v, or -1.
 */
static int
json_strict_hex4(const unsigned char *p, const unsigned char *end,
    uint32_t *v)
{
	uint32_t	 x = 0;
	int		 i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		x <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			x |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			x |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			x |= p[i] - 'A' + 10;
		else
			return -1;
	}
	*v = x;
	return 0;
}

/*
 * Scan the string whose opening quote is at js->p.  When k is not NULL
 * the string is an object key and is described there.
 * Returns 0 with js->p past the closing quote, or -1.
 */
static int
json_strict_string(struct json_strict *js, struct json_strict_key *k)
{
	const unsigned char	*p = js->p + 1, *start = p, *end = js->end;
	uint32_t		 cp, lo;
	size_t			 n;
	int			 escaped = 0;

	for (;;) {
		if (p >= end)
			return json_strict_fail(js, "unterminated string");
		if (*p == '"')
			break;
		if (*p < 0x20)
			return json_strict_fail(js,
			    "control character in string");
		if (*p != '\\') {
			if ((n = json_strict_utf8(p, end, &cp)) == 0)
				return json_strict_fail(js,
				    "invalid UTF-8 in string");
			p += n;
			continue;
		}
		escaped = 1;
		if (end - p < 2)
			return json_strict_fail(js, "unterminated string");
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			p += 2;
			continue;
		case 'u':
			break;
		default:
			return json_strict_fail(js, "invalid escape in string");
		}
		if (json_strict_hex4(p + 2, end, &cp) == -1)
			return json_strict_fail(js, "invalid \\u escape");
		p += 6;
		if (cp == 0)
			return json_strict_fail(js, "NUL in string");
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return json_strict_fail(js, "lone surrogate escape");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* A high surrogate needs a low one right after it. */
			if (end - p < 2 || p[0] != '\\' || p[1] != 'u' ||
			    json_strict_hex4(p + 2, end, &lo) == -1 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return json_strict_fail(js,
				    "lone surrogate escape");
			p += 6;
		}
	}
	if (k != NULL) {
		k->p = start;
		k->len = p - start;
		k->escaped = escaped;
	}
	js->p = p + 1;
	return 0;
}

/*
 * Scan a number at js->p by the grammar of RFC 8259 section 6:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * Returns 0 with js->p past it, or -1.
 */
static int
json_strict_number(struct json_strict *js)
{
	const unsigned char	*p = js->p, *end = js->end;

#define JSON_STRICT_DIGIT(p, end) ((p) < (end) && *(p) >= '0' && *(p) <= '9')
	if (p < end && *p == '-')
		p++;
	if (!JSON_STRICT_DIGIT(p, end))
		return json_strict_fail(js, "invalid number");
	if (*p == '0') {
		p++;
		if (JSON_STRICT_DIGIT(p, end))
			return json_strict_fail(js, "leading zero in number");
	} else
		while (JSON_STRICT_DIGIT(p, end))
			p++;
	if (p < end && *p == '.') {
		p++;
		if (!JSON_STRICT_DIGIT(p, end))
			return json_strict_fail(js, "invalid number");
		while (JSON_STRICT_DIGIT(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!JSON_STRICT_DIGIT(p, end))
			return json_strict_fail(js, "invalid number");
		while (JSON_STRICT_DIGIT(p, end))
			p++;
	}
#undef JSON_STRICT_DIGIT
	js->p = p;
	return 0;
}

static int
json_strict_literal(struct json_strict *js, const char *word)
{
	size_t	 n = strlen(word);

	if ((size_t)(js->end - js->p) < n || memcmp(js->p, word, n) != 0)
		return json_strict_fail(js, "invalid literal");
	js->p += n;
	return 0;
}

static void
json_strict_ws(struct json_strict *js)
{
	while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' ||
	    *js->p == '\n' || *js->p == '\r'))
		js->p++;
}

/*
 * The next code point of a key that json_strict_string() accepted, with
 * escapes decoded and surrogate pairs joined.  The fallbacks for bad input
 * are never taken for a validated key; they only keep every read inside
 * the key.
 * Returns it, or -1 at the end of the key.
 */
static long
json_strict_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char	*p = *pp;
	uint32_t		 cp, lo;
	size_t			 n;

	if (p >= end)
		return -1;
	if (*p != '\\') {
		if ((n = json_strict_utf8(p, end, &cp)) == 0) {
			n = 1;
			cp = *p;
		}
		*pp = p + n;
		return cp;
	}
	if (end - p < 2) {
		*pp = end;
		return '\\';
	}
	switch (p[1]) {
	case 'b':
		cp = '\b';
		break;
	case 'f':
		cp = '\f';
		break;
	case 'n':
		cp = '\n';
		break;
	case 'r':
		cp = '\r';
		break;
	case 't':
		cp = '\t';
		break;
	case 'u':
		if (json_strict_hex4(p + 2, end, &cp) == -1) {
			*pp = end;
			return 0;
		}
		p += 6;
		if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 &&
		    p[0] == '\\' && p[1] == 'u' &&
		    json_strict_hex4(p + 2, end, &lo) == 0) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		*pp = p;
		return cp;
	default:			/* '"', '\\', '/' */
		cp = p[1];
		break;
	}
	*pp = p + 2;
	return cp;
}

/*
 * Order two keys by their decoded code points.  Keys without escapes are
 * compared with memcmp(): UTF-8 byte order is code point order, so both
 * paths agree and qsort() sees one consistent order.
 * Returns <0, 0 or >0.
 */
static int
json_strict_keycmp(const void *va, const void *vb)
{
	const struct json_strict_key	*a = va, *b = vb;
	const unsigned char		*pa, *pb;
	long				 ca, cb;
	int				 r;

	if (!a->escaped && !b->escaped) {
		r = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
		if (r != 0)
			return r;
		return (a->len > b->len) - (a->len < b->len);
	}
	pa = a->p;
	pb = b->p;
	for (;;) {
		ca = json_strict_next(&pa, a->p + a->len);
		cb = json_strict_next(&pb, b->p + b->len);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == -1)
			return 0;
	}
}

static int
json_strict_addkey(struct json_strict *js, const struct json_strict_key *k)
{
	struct json_strict_key	*v;
	size_t			 cap;

	if (js->nkeys == js->keycap) {
		cap = js->keycap == 0 ? 64 : js->keycap * 2;
		if (cap > SIZE_MAX / sizeof(*v))
			return json_strict_fail(js, "too many keys");
		if ((v = realloc(js->keys, cap * sizeof(*v))) == NULL)
			return json_strict_fail(js, "out of memory");
		js->keys = v;
		js->keycap = cap;
	}
	js->keys[js->nkeys++] = *k;
	return 0;
}

/*
 * An object ends: sort its keys and look for two equal neighbours, so an
 * object of n keys costs O(n log n), never O(n^2).  Its keys are then
 * dropped from the table.
 * Returns 0, or -1 on a duplicate key.
 */
static int
json_strict_endobject(struct json_strict *js, size_t base)
{
	size_t	 i;

	if (js->nkeys - base > 1) {
		qsort(js->keys + base, js->nkeys - base, sizeof(*js->keys),
		    json_strict_keycmp);
		for (i = base + 1; i < js->nkeys; i++)
			if (json_strict_keycmp(&js->keys[i - 1],
			    &js->keys[i]) == 0)
				return json_strict_fail(js, "duplicate key");
	}
	js->nkeys = base;
	return 0;
}

/*
 * Check that buf[0..len) is exactly one strict RFC 8259 JSON value with
 * containers nested at most max_depth deep (0 allows scalars only).  buf
 * need not be NUL-terminated; a NUL byte anywhere is an error.
 * Returns 0 when valid, or -1 with a short static phrase in *errstr.
 */
int
json_strict_check(const char *buf, size_t len, int max_depth,
    const char **errstr)
{
	struct json_strict_frame	 stack[JSON_STRICT_MAX_DEPTH];
	struct json_strict_frame	*top;
	struct json_strict		 js;
	struct json_strict_key		 k;
	enum json_strict_state		 state = JSON_STRICT_VALUE;
	int				 depth = 0, rc = -1;
	unsigned char			 close;

	memset(&js, 0, sizeof(js));
	if (max_depth < 0 || max_depth > JSON_STRICT_MAX_DEPTH) {
		js.errstr = "nesting limit out of range";
		goto done;
	}
	if (buf == NULL || len == 0) {
		js.errstr = "empty document";
		goto done;
	}
	js.p = (const unsigned char *)buf;
	js.end = js.p + len;
	json_strict_ws(&js);
	if (js.p == js.end) {
		js.errstr = "empty document";
		goto done;
	}

	for (;;) {
		json_strict_ws(&js);
		switch (state) {
		case JSON_STRICT_KEY:
			if (js.p == js.end) {
				js.errstr = "truncated document";
				goto done;
			}
			if (*js.p == '}') {
				js.errstr = "trailing comma in object";
				goto done;
			}
			if (*js.p != '"') {
				js.errstr = "object key is not a string";
				goto done;
			}
			if (json_strict_string(&js, &k) == -1 ||
			    json_strict_addkey(&js, &k) == -1)
				goto done;
			json_strict_ws(&js);
			if (js.p == js.end) {
				js.errstr = "truncated document";
				goto done;
			}
			if (*js.p != ':') {
				js.errstr = "expected ':' after key";
				goto done;
			}
			js.p++;
			state = JSON_STRICT_VALUE;
			break;
		case JSON_STRICT_VALUE:
			if (js.p == js.end) {
				js.errstr = "truncated document";
				goto done;
			}
			switch (*js.p) {
			case '{':
			case '[':
				if (depth >= max_depth) {
					js.errstr = "nesting too deep";
					goto done;
				}
				top = &stack[depth++];
				top->object = *js.p == '{';
				top->keybase = js.nkeys;
				close = top->object ? '}' : ']';
				js.p++;
				json_strict_ws(&js);
				if (js.p < js.end && *js.p == close) {
					js.p++;
					depth--;
					state = JSON_STRICT_AFTER;
				} else
					state = top->object ?
					    JSON_STRICT_KEY : JSON_STRICT_VALUE;
				continue;
			case '"':
				if (json_strict_string(&js, NULL) == -1)
					goto done;
				break;
			case '-':
			case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				if (json_strict_number(&js) == -1)
					goto done;
				break;
			case 't':
				if (json_strict_literal(&js, "true") == -1)
					goto done;
				break;
			case 'f':
				if (json_strict_literal(&js, "false") == -1)
					goto done;
				break;
			case 'n':
				if (json_strict_literal(&js, "null") == -1)
					goto done;
				break;
			case ']':
			case '}':
			case ',':
				js.errstr = "missing value";
				goto done;
			default:
				js.errstr = "unexpected character";
				goto done;
			}
			state = JSON_STRICT_AFTER;
			break;
		case JSON_STRICT_AFTER:
			if (depth == 0) {
				if (js.p != js.end) {
					js.errstr = "trailing data after value";
					goto done;
				}
				rc = 0;
				goto done;
			}
			if (js.p == js.end) {
				js.errstr = "truncated document";
				goto done;
			}
			top = &stack[depth - 1];
			if (*js.p == ',') {
				js.p++;
				state = top->object ?
				    JSON_STRICT_KEY : JSON_STRICT_VALUE;
				break;
			}
			if (*js.p != (top->object ? '}' : ']')) {
				js.errstr = "expected ',' or end of container";
				goto done;
			}
			js.p++;
			if (top->object &&
			    json_strict_endobject(&js, top->keybase) == -1)
				goto done;
			depth--;
			break;
		}
	}

 done:
	free(js.keys);
	if (errstr != NULL)
		*errstr = rc == 0 ? NULL : js.errstr;
	return rc;
}

/*
 * Check that s[0..len) is well-formed UTF-8 with no NUL: no overlong
 * forms, no surrogates, nothing above U+10FFFF.
 * Returns 1 when it is, else 0.
 */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p, *end;
	uint32_t		 cp;
	size_t			 n;

	if (s == NULL)
		return len == 0;
	p = (const unsigned char *)s;
	end = p + len;
	while (p < end) {
		if (*p == '\0')
			return 0;
		if ((n = json_strict_utf8(p, end, &cp)) == 0)
			return 0;
		p += n;
	}
	return 1;
}
