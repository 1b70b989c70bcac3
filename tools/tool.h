/*
 * tool.h - code shared by logd's command-line tools (logtail, logput,
 * logctl, sensorgen, logalerts).
 *
 * - Messages: tool_err() prints "prog: message" on stderr, with the
 *   program name set once by tool_init().
 * - A growable byte buffer (struct tool_buf) that every renderer appends
 *   to.
 * - Rendering: msgpack values as JSON (tool_msgpack_to_json), any bytes
 *   as a JSON string (tool_json_string), and the rule logtail uses for a
 *   record's key or value (tool_value_to_json): exactly one msgpack map or
 *   array -> JSON; valid UTF-8 -> a JSON string; anything else -> base64.
 * - A small strict JSON parser (RFC 8259, no extensions) that converts a
 *   JSON text into msgpack (tool_json_to_msgpack) or only checks it
 *   (tool_json_check).  Objects become maps, arrays arrays, integers that
 *   fit int64/uint64 become msgpack ints, other numbers float64.
 * - Time: ISO 8601 UTC and relative times (tool_parse_time), and
 *   formatting (tool_format_time).
 * - Numbers and addresses: tool_parse_i64(), tool_broker_addr().
 *
 * Unlike lib/, tools may keep the program name in a global and may exit;
 * but everything here returns codes and leaves exiting to main().
 */
#ifndef TOOL_H
#define TOOL_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Exit codes shared by the tools (documented in their man pages). */
#define TOOL_EXIT_OK      0   /* success */
#define TOOL_EXIT_FAIL    1   /* the operation failed (or found damage) */
#define TOOL_EXIT_USAGE   2   /* bad usage: options, arguments */
#define TOOL_EXIT_CONNECT 3   /* the broker could not be reached */

/* The program name used by tool_err(): basename of argv0. */
extern const char *tool_prog;

/* Sets tool_prog from argv[0]. */
void tool_init(const char *argv0);

/* Prints "prog: message\n" on stderr (fmt must not end in a newline). */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_verr(const char *fmt, va_list ap);
/* A usage error: the message, "Try 'PROG -h' for help.", and
 * TOOL_EXIT_USAGE to return. */
int tool_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Monotonic clock in seconds and in nanoseconds. */
double tool_mono_s(void);
int64_t tool_mono_ns(void);

/* ---- Growable buffer ---- */

struct tool_buf {
	char *data;       /* NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap;
};

#define TOOL_BUF_INIT { NULL, 0, 0 }

/* Appends; each returns 0 or -ENOMEM (buffer unchanged on failure). */
int tool_buf_add(struct tool_buf *b, const void *p, size_t n);
int tool_buf_addc(struct tool_buf *b, char c);
int tool_buf_adds(struct tool_buf *b, const char *s);
int tool_buf_printf(struct tool_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void tool_buf_reset(struct tool_buf *b);
void tool_buf_free(struct tool_buf *b);

/* ---- Rendering as JSON ---- */

/* 1 if p[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int tool_utf8_valid(const void *p, size_t n);

/*
 * Appends p[0..n) as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \b \f \n \r \t or \u00XX, everything else as is.  Invalid
 * UTF-8 sequences become U+FFFD (callers that must keep the bytes check
 * tool_utf8_valid() first and use base64).  0 or -ENOMEM.
 */
int tool_json_string(struct tool_buf *b, const void *p, size_t n);

/* Appends p[0..n) in standard base64 (with padding), unquoted. */
int tool_base64(struct tool_buf *b, const void *p, size_t n);

/*
 * Appends the msgpack value p[0..n) as JSON.  The bytes must be exactly
 * one msgpack object (no trailing bytes).  nil -> null, bool, ints,
 * floats (NaN and infinities -> null; a float with an integral value
 * keeps a ".0" so it reads back as a float), str -> string (invalid UTF-8
 * as U+FFFD), bin and ext -> base64 string, array -> array, map ->
 * object (a non-string key is rendered as JSON and used as a string).
 * Nesting deeper than TOOL_JSON_MAX_DEPTH is refused.
 * Returns 0, -EINVAL (not exactly one msgpack object, or too deep) or
 * -ENOMEM; on error b is left as it was.
 */
int tool_msgpack_to_json(struct tool_buf *b, const void *p, size_t n);

/* What tool_value_to_json() produced. */
enum tool_value_kind {
	TOOL_VALUE_NULL,      /* p was NULL: "null" */
	TOOL_VALUE_MSGPACK,   /* a msgpack map or array, rendered as JSON */
	TOOL_VALUE_STRING,    /* valid UTF-8, as a JSON string */
	TOOL_VALUE_BASE64     /* anything else, as a base64 JSON string */
};

/*
 * 1 if p[0..n) is exactly one msgpack map or array (the test logtail uses
 * to decide that a value is msgpack rather than text or binary: text
 * never starts with a map or array type byte).
 */
int tool_is_msgpack_container(const void *p, size_t n);

/*
 * Appends a record's key or value as JSON, by the rule above; *kind (may
 * be NULL) says which form was used.  p NULL means a null key/value.
 * 0 or -ENOMEM.
 */
int tool_value_to_json(struct tool_buf *b, const void *p, size_t n,
    enum tool_value_kind *kind);

/* ---- Parsing JSON ---- */

#define TOOL_JSON_MAX_DEPTH 64

/*
 * Parses the JSON text s[0..n) (one value, surrounded only by
 * whitespace) and appends it as msgpack to out.  Strict RFC 8259: no
 * comments, no trailing commas, no single quotes, no NaN, no leading
 * zeros, no control characters in strings, valid UTF-8, \u escapes with
 * paired surrogates; nesting up to TOOL_JSON_MAX_DEPTH.  Duplicate object
 * keys are kept as they are.
 * Returns 0, -EINVAL with a message such as "line 1, column 7: expected
 * ':'" in err (NUL-terminated, truncated to err_size; err may be NULL),
 * or -ENOMEM.  On error nothing is appended to out.
 */
int tool_json_to_msgpack(const char *s, size_t n, msgpack_sbuffer *out,
    char *err, size_t err_size);

/* Only checks s[0..n) as tool_json_to_msgpack() would.  0 or -EINVAL. */
int tool_json_check(const char *s, size_t n, char *err, size_t err_size);

/* 'o', 'a', 's', 'n' (number), 't'/'f' (bool), 'z' (null): the type of
 * the JSON value s starts with after whitespace, or 0. */
char tool_json_type(const char *s, size_t n);

/* ---- Times and numbers ---- */

/*
 * Parses a time into milliseconds since the epoch:
 * - ISO 8601 in UTC: YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS,
 *   with optional fraction .f to .fffffffff (kept to the millisecond) and
 *   an optional trailing 'Z' (a space may replace the 'T');
 * - relative to now_ms: -N followed by ms, s, m, h, d or w (-10m is ten
 *   minutes ago), and "now".
 * Fields are range checked (month 1-12, day within the month, hour 0-23,
 * minute 0-59, second 0-60).  Returns 0 or -EINVAL.
 */
int tool_parse_time(const char *s, int64_t now_ms, int64_t *out);

/* Formats ms as "2026-11-25T10:00:00.000Z" into buf (>= 32 bytes); a
 * time outside the years 0000 to 9999 as the plain number of ms. */
void tool_format_time(int64_t ms, char *buf, size_t size);

/* Milliseconds since the epoch, from the realtime clock. */
int64_t tool_now_ms(void);

/*
 * Parses a whole decimal integer (optional '-', digits, nothing else)
 * within [min, max].  0 or -EINVAL (syntax) or -ERANGE.
 */
int tool_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * The broker address to use: opt if not NULL, else $LOGD_BROKER if set
 * and not empty, else LOGD_DEFAULT_ADDR.
 */
const char *tool_broker_addr(const char *opt);

/*
 * Reports a failed liblogd call as "prog: what: reason", where reason is
 * the client's error message when c is not NULL and has one, else
 * logd_strerror(err).  Returns the exit code that fits err:
 * TOOL_EXIT_CONNECT for connection failures, else TOOL_EXIT_FAIL.
 */
struct logd_client;
int tool_client_err(const struct logd_client *c, int err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * Opens a client to addr (tool_broker_addr() applied), printing
 * "prog: cannot connect to ADDR: reason" on failure.  Returns 0 or the
 * exit code (TOOL_EXIT_CONNECT).
 */
int tool_connect(const char *addr, struct logd_client **out);

/* 1 if err means the connection to the broker failed or broke. */
int tool_is_connection_error(int err);

/*
 * For followers whose connection broke with err: says so on stderr,
 * closes *c and opens a new client to addr (tool_broker_addr() applied),
 * retrying with a backoff from TOOL_RECONNECT_MIN_MS doubling up to
 * TOOL_RECONNECT_MAX_MS, until it connects (returns 0, "reconnected to
 * ADDR" on stderr, *c the new client) or *stop is set (returns 1, *c
 * NULL).
 */
#define TOOL_RECONNECT_MIN_MS 100
#define TOOL_RECONNECT_MAX_MS 5000
int tool_reconnect(const char *addr, int err, volatile sig_atomic_t *stop,
    struct logd_client **c);

#endif /* TOOL_H */
