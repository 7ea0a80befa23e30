/*
 * classify.c - codes, classes and reason signatures of an event.
 *
 * The reason signature replaces what varies between two instances of one
 * cause - addresses, IP addresses, host names, numbers, queue and session
 * identifiers, URL parameters, quoted single words - with placeholders, and
 * drops the reply and enhanced codes that the event already carries in
 * their own columns (including the repeated "550-5.7.1" of multi-line
 * replies).  It works on bytes: invalid UTF-8 passes through unchanged.
 */
#include "config.h"

#include "classify.h"

#include <string.h>
#include <strings.h>

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
classify_enhanced_code(struct span s, char out[CODE_MAX])
{
	size_t i = 0, d;

	out[0] = '\0';
	if (s.p == NULL || s.n < 5 || s.n > 9)
		return false;
	if (s.p[0] != '2' && s.p[0] != '4' && s.p[0] != '5')
		return false;
	if (s.p[1] != '.')
		return false;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (d = 0; i < s.n && is_digit((unsigned char)s.p[i]); d++, i++)
			;
		if (d < 1 || d > 3)
			return false;
		if (part == 0) {
			if (i >= s.n || s.p[i] != '.')
				return false;
			i++;
		}
	}
	if (i != s.n)
		return false;
	memcpy(out, s.p, s.n);
	out[s.n] = '\0';
	return true;
}

int
classify_reply_code(struct span s)
{
	if (s.p == NULL || s.n != 3 || s.p[0] < '2' || s.p[0] > '5' ||
	    !is_digit((unsigned char)s.p[1]) || !is_digit((unsigned char)s.p[2]))
		return 0;
	return (s.p[0] - '0') * 100 + (s.p[1] - '0') * 10 + (s.p[2] - '0');
}

void
classify_event(struct event *ev)
{
	const char *code = ev->enhanced_code;

	ev->enhanced_from_dsn = false;
	if (code[0] == '\0' && ev->dsn[0] != '\0') {
		memcpy(ev->enhanced_code, ev->dsn, CODE_MAX);
		code = ev->enhanced_code;
		ev->enhanced_from_dsn = true;
	}
	ev->class_code = ev->subject = ev->detail = -1;
	if (ev->reply_code != 0)
		ev->class_code = ev->reply_code / 100;
	else if (code[0] != '\0')
		ev->class_code = code[0] - '0';
	else if (ev->default_class != 0)
		ev->class_code = ev->default_class;
	if (code[0] != '\0') {
		const char *p = code + 2;
		int v = 0;

		while (is_digit((unsigned char)*p))
			v = v * 10 + (*p++ - '0');
		ev->subject = v;
		v = 0;
		p++;
		while (is_digit((unsigned char)*p))
			v = v * 10 + (*p++ - '0');
		ev->detail = v;
	}
}

void
classify_event_reason(struct event *ev)
{
	struct span text = span_is_set(ev->reply) ? ev->reply : ev->response;

	if (span_is_set(text))
		classify_reason(text.p, text.n, ev->reason);
	else
		ev->reason[0] = '\0';
}

/* struct sig - the signature being written */
struct sig {
	char *out;
	size_t n;
	bool full;
};

static void
sig_put(struct sig *s, const char *p, size_t n)
{
	if (s->full || n == 0)
		return;
	if (s->n + n > REASON_MAX) {
		s->full = true;
		return;
	}
	memcpy(s->out + s->n, p, n);
	s->n += n;
}

/* sig_lit - append the string literal LIT */
#define sig_lit(s, lit) sig_put((s), (lit), sizeof(lit) - 1)

/* The bytes the tokenizer tells apart: white space between tokens, and the
 * punctuation peeled off a token's start (open) and end (close). */
enum { CC_SPACE = 1, CC_OPEN = 2, CC_CLOSE = 4 };
static const unsigned char cclass[256] = {
    [' '] = CC_SPACE,  ['\t'] = CC_SPACE, ['('] = CC_OPEN,  ['<'] = CC_OPEN,
    ['['] = CC_OPEN,   ['{'] = CC_OPEN,   ['"'] = CC_OPEN | CC_CLOSE, ['\''] = CC_OPEN | CC_CLOSE,
    [')'] = CC_CLOSE,  ['>'] = CC_CLOSE,  [']'] = CC_CLOSE, ['}'] = CC_CLOSE,
    [','] = CC_CLOSE,  [';'] = CC_CLOSE,  [':'] = CC_CLOSE, ['.'] = CC_CLOSE,
    ['!'] = CC_CLOSE,  ['?'] = CC_CLOSE,
};

static bool
is_class(char c, unsigned char cc)
{
	return (cclass[(unsigned char)c] & cc) != 0;
}

/* reply-code prefixes: "550" alone, "550-" or "550-5.7.1" inside multi-line text */
static bool
is_code_token(const char *p, size_t n)
{
	char tmp[CODE_MAX];

	/* every code begins with a digit from 2 to 5: most tokens are words */
	if (n < 3 || p[0] < '2' || p[0] > '5')
		return false;
	if (n == 3 && classify_reply_code((struct span){p, 3}))
		return true;
	if (n >= 4 && classify_reply_code((struct span){p, 3}) && p[3] == '-') {
		if (n == 4)
			return true;
		return classify_enhanced_code((struct span){p + 4, n - 4}, tmp);
	}
	return classify_enhanced_code((struct span){p, n}, tmp);
}

static bool
is_ipv4(const char *p, size_t n)
{
	int dots = 0, run = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_digit((unsigned char)p[i])) {
			if (++run > 3)
				return false;
		} else if (p[i] == '.') {
			if (run == 0)
				return false;
			dots++;
			run = 0;
		} else
			return false;
	}
	return dots == 3 && run > 0;
}

static bool
is_ipv6(const char *p, size_t n)
{
	int colons = 0;

	if (n >= 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		p += 5;
		n -= 5;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ':')
			colons++;
		else if (!is_hex((unsigned char)p[i]) && p[i] != '.')
			return false;
	}
	return colons >= 2;
}

/* is_hostname - labels of letters, digits and '-', a dot, an alphabetic TLD */
static bool
is_hostname(const char *p, size_t n)
{
	size_t last_dot = 0;
	int dots = 0;

	if (n < 4 || p[0] == '.' || p[n - 1] == '.' || p[0] == '-' || memchr(p, '.', n) == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (p[i - 1] == '.')
				return false;
			dots++;
			last_dot = i;
		} else if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
	}
	if (dots == 0 || n - last_dot - 1 < 2)
		return false;
	for (size_t i = last_dot + 1; i < n; i++) {
		if (!is_alpha((unsigned char)p[i]))
			return false;
	}
	return true;
}

/* is_identifier - a session, queue or message id: long, letters and digits */
static bool
is_identifier(const char *p, size_t n)
{
	size_t digits = 0, alpha = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_digit(c))
			digits++;
		else if (is_alpha(c))
			alpha++;
		else if (c != '-' && c != '_' && c != '.' && c != '+' && c != '/' && c != '=' &&
		         c != ':' && c != '#')
			return false;
	}
	if (digits == 0)
		return false;
	if (alpha == 0)
		return true; /* 12-34.56: numbers */
	return n >= 8 || (n >= 6 && digits * 2 >= n);
}

/* sig_url - keep scheme, host and path; normalise query values */
static void
sig_url(struct sig *s, const char *p, size_t n)
{
	const char *q = memchr(p, '?', n);
	const char *e = p + n;

	if (q == NULL) {
		sig_put(s, p, n);
		return;
	}
	sig_put(s, p, (size_t)(q - p) + 1);
	p = q + 1;
	while (p < e) {
		const char *amp = memchr(p, '&', (size_t)(e - p));
		const char *pe = amp ? amp : e;
		const char *eq = memchr(p, '=', (size_t)(pe - p));

		if (eq != NULL) {
			bool plain = true;

			sig_put(s, p, (size_t)(eq - p) + 1);
			for (const char *c = eq + 1; c < pe; c++) {
				if (!is_alpha((unsigned char)*c))
					plain = false;
			}
			if (pe - eq - 1 > 24)
				plain = false;
			if (plain)
				sig_put(s, eq + 1, (size_t)(pe - eq - 1));
			else
				sig_lit(s, "<v>");
		} else
			sig_put(s, p, (size_t)(pe - p));
		if (amp != NULL)
			sig_lit(s, "&");
		p = pe + 1;
	}
}

/* sig_token - a token kept as it is, in its angle brackets if it had them */
static void
sig_token(struct sig *s, const char *p, size_t n, bool angled)
{
	if (angled)
		sig_lit(s, "<");
	sig_put(s, p, n);
	if (angled)
		sig_lit(s, ">");
}

/* sig_core - one token without its surrounding punctuation */
static void
sig_core(struct sig *s, const char *p, size_t n, bool angled)
{
	const char *br;

	if (n == 0)
		return;
	{
		/* a word of letters only, most tokens of a reply, is none of
		 * the forms below: itself */
		size_t k = 0;

		while (k < n && is_alpha((unsigned char)p[k]))
			k++;
		if (k == n) {
			sig_token(s, p, n, angled);
			return;
		}
	}
	if ((*p == 'h' || *p == 'H') && ((n > 7 && strncasecmp(p, "http://", 7) == 0) ||
	                                 (n > 8 && strncasecmp(p, "https://", 8) == 0))) {
		sig_url(s, p, n);
		return;
	}
	/* key=value: keep the key, normalise the value */
	{
		const char *eq = memchr(p, '=', n);

		if (eq != NULL && eq > p && eq + 1 < p + n) {
			bool word = true;

			for (const char *c = p; c < eq; c++) {
				if (!is_alpha((unsigned char)*c) && *c != '_' && *c != '-')
					word = false;
			}
			if (word) {
				sig_put(s, p, (size_t)(eq - p) + 1);
				sig_core(s, eq + 1, (size_t)(p + n - eq - 1), false);
				return;
			}
		}
	}
	if (memchr(p, '@', n) != NULL) {
		sig_lit(s, "<addr>");
		return;
	}
	/* host[ip]:port and [ip]:port */
	br = memchr(p, '[', n);
	if (br != NULL && p[n - 1] != '[') {
		const char *close = memchr(br, ']', (size_t)(p + n - br));

		if (close != NULL) {
			if (br > p)
				sig_core(s, p, (size_t)(br - p), false);
			sig_lit(s, "[");
			sig_core(s, br + 1, (size_t)(close - br - 1), false);
			sig_lit(s, "]");
			if (close + 1 < p + n) {
				const char *r = close + 1;

				if (*r == ':') {
					sig_lit(s, ":");
					r++;
				}
				sig_core(s, r, (size_t)(p + n - r), false);
			}
			return;
		}
	}
	if (is_ipv4(p, n) || is_ipv6(p, n)) {
		sig_lit(s, "<ip>");
		return;
	}
	/* ip:port */
	{
		const char *c = memrchr(p, ':', n);

		if (c != NULL && c > p && is_ipv4(p, (size_t)(c - p))) {
			sig_lit(s, "<ip>:<n>");
			return;
		}
	}
	if (is_hostname(p, n)) {
		sig_lit(s, "<host>");
		return;
	}
	{
		bool all_digits = true;

		for (size_t i = 0; i < n && all_digits; i++) {
			if (!is_digit((unsigned char)p[i]))
				all_digits = false;
		}
		if (all_digits) {
			sig_lit(s, "<n>");
			return;
		}
	}
	if (is_identifier(p, n)) {
		sig_lit(s, "<id>");
		return;
	}
	sig_token(s, p, n, angled);
}

void
classify_reason(const char *p, size_t n, char *out)
{
	struct sig s = {out, 0, false};
	const char *e = p + n;

	while (p < e) {
		const char *t, *te, *cs, *ce;
		bool angled;

		while (p < e && is_class(*p, CC_SPACE))
			p++;
		if (p >= e)
			break;
		t = p;
		while (p < e && !is_class(*p, CC_SPACE))
			p++;
		te = p;
		if (is_code_token(t, (size_t)(te - t)))
			continue;
		/* peel punctuation: (<"word">), keeping URLs' own characters */
		cs = t;
		while (cs < te && is_class(*cs, CC_OPEN))
			cs++;
		ce = te;
		while (ce > cs && is_class(ce[-1], CC_CLOSE) &&
		       !(ce[-1] == ']' && memchr(cs, '[', (size_t)(ce - cs)) != NULL))
			ce--;
		angled = cs > t && cs[-1] == '<' && ce < te && *ce == '>';
		if (ce <= cs) {
			/* all punctuation ("<>", "--"): keep it as it is */
			if (s.n > 0)
				sig_lit(&s, " ");
			sig_put(&s, t, (size_t)(te - t));
			continue;
		}
		if (s.n > 0)
			sig_lit(&s, " ");
		sig_put(&s, t, (size_t)(cs - t - (angled ? 1 : 0)));
		if (cs - t >= 1 && cs[-1] == '"' && ce < te && *ce == '"' &&
		    memchr(cs, '"', (size_t)(ce - cs)) == NULL) {
			sig_lit(&s, "<str>");
		} else
			sig_core(&s, cs, (size_t)(ce - cs), angled);
		sig_put(&s, ce + (angled ? 1 : 0), (size_t)(te - ce - (angled ? 1 : 0)));
		if (s.full)
			break;
	}
	out[s.n] = '\0';
}
