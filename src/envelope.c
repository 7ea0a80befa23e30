/*
 * envelope.c - the envelope of a log line: timestamp, host, program.
 *
 * Hand-written scanners, no regular expressions: this runs on every line of
 * the input, outcome or not, so it must cost tens of nanoseconds.
 * Formats, tried in order of the first byte:
 *   <PRI>1 2026-11-27T07:30:00Z host prog pid msgid [sd] msg   (RFC 5424)
 *   [<PRI>]Nov 27 06:25:13 host prog[pid]: msg                (BSD syslog)
 *   2026-11-27T07:30:00.123+01:00 host prog[pid]: msg         (RFC 3339,
 *                                       journalctl -o short-iso: +0100)
 *   2026-11-27 09:00:02[.mmm][ +0100][ [pid]] msg               (Exim mainlog)
 * Exim lines wrapped in syslog ("exim[pid]: 2026-11-27 09:00:02 ...") get the
 * inner timestamp, which is the one Exim wrote.
 */
#include "config.h"

#include "envelope.h"

#include <stdio.h>
#include <string.h>

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* month_number - 1-12 for "Jan".."Dec" at P, else 0; *LAST, the month
 * found before, is tried first (a log stays in one month for a while) */
static int
month_number(const char *p, int *last)
{
	int m = *last;

	if (m > 0 && p[0] == months[3 * m - 3] && p[1] == months[3 * m - 2] &&
	    p[2] == months[3 * m - 1])
		return m;
	for (int i = 0; i < 12; i++) {
		if (p[0] == months[3 * i] && p[1] == months[3 * i + 1] && p[2] == months[3 * i + 2])
			return *last = i + 1;
	}
	return 0;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* digits - parse exactly N digits at P into *v */
static bool
digits(const char *p, size_t n, int *v)
{
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		r = r * 10 + (p[i] - '0');
	}
	*v = r;
	return true;
}

void
envelope_year_init(struct envelope_year *y, time_t ref, int forced_year)
{
	struct tm tm;

	memset(y, 0, sizeof *y);
	y->forced_year = forced_year;
	localtime_r(&ref, &tm);
	y->ref_year = tm.tm_year + 1900;
	y->ref_mon = tm.tm_mon + 1;
}

/*
 * infer_year - BSD syslog carries no year.  The first line is placed in the
 * reference year unless its month lies after the reference month (then it
 * was written last year); after that the year follows the lines: a jump back
 * of more than six months (Dec -> Jan) is a new year.
 */
static int
infer_year(struct envelope_year *y, int mon)
{
	if (y->forced_year)
		return y->forced_year;
	if (y->year == 0)
		y->year = mon > y->ref_mon ? y->ref_year - 1 : y->ref_year;
	else if (mon + 6 < y->last_mon)
		y->year++;
	else if (mon > y->last_mon + 6)
		y->year--;
	y->last_mon = mon;
	return y->year;
}

/* parse_hms - "HH:MM:SS" at P (8 bytes) */
static bool
parse_hms(const char *p, struct timestamp *ts)
{
	return digits(p, 2, &ts->hour) && p[2] == ':' && digits(p + 3, 2, &ts->min) &&
	       p[5] == ':' && digits(p + 6, 2, &ts->sec) && ts->hour < 24 && ts->min < 60 &&
	       ts->sec < 61;
}

/* parse_frac - optional ".ddd" at *pp */
static void
parse_frac(const char **pp, const char *e, struct timestamp *ts)
{
	const char *p = *pp;
	size_t k = 0;

	ts->frac[0] = '\0';
	if (p < e && *p == '.') {
		p++;
		while (p < e && is_digit(*p)) {
			if (k < sizeof ts->frac - 1)
				ts->frac[k++] = *p;
			p++;
		}
		ts->frac[k] = '\0';
	}
	*pp = p;
}

/* parse_zone - optional "Z", "+hh:mm" or "+hhmm" at *pp */
static void
parse_zone(const char **pp, const char *e, struct timestamp *ts)
{
	const char *p = *pp;
	int h, m;

	ts->has_tz = false;
	ts->tz_minutes = 0;
	if (p < e && *p == 'Z') {
		ts->has_tz = true;
		*pp = p + 1;
		return;
	}
	if (p < e && (*p == '+' || *p == '-')) {
		int sign = *p == '-' ? -1 : 1;

		if (e - p >= 6 && digits(p + 1, 2, &h) && p[3] == ':' && digits(p + 4, 2, &m)) {
			*pp = p + 6;
		} else if (e - p >= 5 && digits(p + 1, 2, &h) && digits(p + 3, 2, &m)) {
			*pp = p + 5;
		} else
			return;
		ts->has_tz = true;
		ts->tz_minutes = sign * (h * 60 + m);
	}
}

/* parse_iso_date - "YYYY-MM-DD" at P (10 bytes) */
static bool
parse_iso_date(const char *p, struct timestamp *ts)
{
	return digits(p, 4, &ts->year) && p[4] == '-' && digits(p + 5, 2, &ts->mon) &&
	       p[7] == '-' && digits(p + 8, 2, &ts->day) && ts->mon >= 1 && ts->mon <= 12 &&
	       ts->day >= 1 && ts->day <= 31;
}

/* parse_iso_ts - RFC 3339 "YYYY-MM-DDTHH:MM:SS[.f][zone]" at *pp */
static bool
parse_iso_ts(const char **pp, const char *e, struct timestamp *ts)
{
	const char *p = *pp;

	if (e - p < 19 || !parse_iso_date(p, ts) || p[10] != 'T' || !parse_hms(p + 11, ts))
		return false;
	p += 19;
	parse_frac(&p, e, ts);
	parse_zone(&p, e, ts);
	ts->has_year = true;
	*pp = p;
	return true;
}

/* parse_exim_ts - "YYYY-MM-DD HH:MM:SS[.mmm][ +zzzz]" at *pp */
static bool
parse_exim_ts(const char **pp, const char *e, struct timestamp *ts)
{
	const char *p = *pp;

	if (e - p < 20 || !parse_iso_date(p, ts) || p[10] != ' ' || !parse_hms(p + 11, ts))
		return false;
	p += 19;
	parse_frac(&p, e, ts);
	ts->has_tz = false;
	ts->tz_minutes = 0;
	if (e - p >= 6 && p[0] == ' ' && (p[1] == '+' || p[1] == '-') && is_digit(p[2])) {
		p++;
		parse_zone(&p, e, ts);
	}
	ts->has_year = true;
	*pp = p;
	return true;
}

/* word - the span up to the next space */
static const char *
word_end(const char *p, const char *e)
{
	const char *s = memchr(p, ' ', (size_t)(e - p));

	return s ? s : e;
}

/* parse_tag - "prog[pid]: " or "prog: " at P; fills program, pid, msg */
static bool
parse_tag(const char *p, const char *e, struct envelope *env)
{
	const char *q = p;

	while (q < e && *q != '[' && *q != ':' && *q != ' ')
		q++;
	if (q == p || q >= e)
		return false;
	env->program = (struct span){p, (size_t)(q - p)};
	env->pid = SPAN_NONE;
	if (*q == '[') {
		const char *pid = ++q;

		while (q < e && is_digit(*q))
			q++;
		if (q >= e || *q != ']')
			return false;
		env->pid = (struct span){pid, (size_t)(q - pid)};
		q++;
	}
	if (q >= e || *q != ':')
		return false;
	q++;
	if (q < e && *q == ' ')
		q++;
	/* Solaris syslog: "[ID 197553 mail.info] " */
	if (e - q > 4 && memcmp(q, "[ID ", 4) == 0) {
		const char *r = memchr(q, ']', (size_t)(e - q));

		if (r != NULL && r + 1 < e && r[1] == ' ')
			q = r + 2;
	}
	env->msg = (struct span){q, (size_t)(e - q)};
	return true;
}

static enum mta
mta_from_program(struct span prog)
{
	const char *p = prog.p;
	size_t n = prog.n;

	if (n >= 7 && memcmp(p, "postfix", 7) == 0)
		return MTA_POSTFIX;
	if (n >= 4 && memcmp(p, "exim", 4) == 0)
		return MTA_EXIM;
	if ((n >= 8 && memcmp(p, "sendmail", 8) == 0) || (n >= 3 && memcmp(p, "sm-", 3) == 0))
		return MTA_SENDMAIL;
	return MTA_NONE;
}

/* after_host_tag - "host tag..." after a syslog timestamp at P */
static bool
after_host_tag(const char *p, const char *e, struct envelope *env)
{
	const char *h;

	if (p >= e || *p != ' ')
		return false;
	p++;
	/* some syslog templates log "<facility.level>" before the host */
	if (e - p > 3 && *p == '<') {
		const char *gt = memchr(p, '>', (size_t)(e - p) < 24 ? (size_t)(e - p) : 24);

		if (gt != NULL && memchr(p, '.', (size_t)(gt - p)) != NULL && gt + 1 < e &&
		    gt[1] == ' ')
			p = gt + 2;
	}
	h = word_end(p, e);
	if (h == p || h >= e)
		return false;
	env->host = (struct span){p, (size_t)(h - p)};
	return parse_tag(h + 1, e, env);
}

/* parse_rfc5424 - after "<PRI>1 " */
static bool
parse_rfc5424(const char *p, const char *e, struct envelope *env)
{
	const char *w;

	if (e - p >= 2 && p[0] == '-' && p[1] == ' ') {
		memset(&env->ts, 0, sizeof env->ts);
		p += 1;
	} else if (!parse_iso_ts(&p, e, &env->ts))
		return false;
	if (p >= e || *p++ != ' ')
		return false;
	w = word_end(p, e); /* host */
	env->host = (struct span){p, (size_t)(w - p)};
	if (w >= e)
		return false;
	p = w + 1;
	w = word_end(p, e); /* app-name */
	env->program = (struct span){p, (size_t)(w - p)};
	if (w >= e)
		return false;
	p = w + 1;
	w = word_end(p, e); /* procid */
	env->pid = (w - p == 1 && *p == '-') ? SPAN_NONE : (struct span){p, (size_t)(w - p)};
	if (w >= e)
		return false;
	p = w + 1;
	w = word_end(p, e); /* msgid */
	if (w >= e)
		return false;
	p = w + 1;
	/* structured data: "-" or one or more [..] elements (']' may be escaped) */
	if (*p == '-') {
		p++;
	} else {
		while (p < e && *p == '[') {
			p++;
			while (p < e && *p != ']') {
				if (*p == '\\' && p + 1 < e)
					p++;
				else if (*p == '"') {
					p++;
					while (p < e && *p != '"') {
						if (*p == '\\' && p + 1 < e)
							p++;
						p++;
					}
				}
				p++;
			}
			if (p < e)
				p++;
		}
	}
	if (p < e && *p == ' ')
		p++;
	/* an optional UTF-8 byte order mark before the message */
	if (e - p >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3;
	env->msg = (struct span){p, (size_t)(e - p)};
	return true;
}

/* exim_inner - Exim in syslog logs its own timestamp first: use it */
static void
exim_inner(struct envelope *env)
{
	const char *p = env->msg.p, *e = env->msg.p + env->msg.n;
	struct timestamp ts;

	if (env->msg.n < 20 || !is_digit(p[0]))
		return;
	if (!parse_exim_ts(&p, e, &ts))
		return;
	if (p < e && *p == ' ')
		p++;
	if (e - p > 2 && *p == '[') {
		const char *r = p + 1;

		while (r < e && is_digit(*r))
			r++;
		if (r < e && *r == ']' && r + 1 < e && r[1] == ' ')
			p = r + 2;
	}
	env->ts = ts;
	env->msg = (struct span){p, (size_t)(e - p)};
}

bool
envelope_parse(const char *p, size_t n, struct envelope_year *y, struct envelope *env)
{
	const char *e = p + n;
	int mon, pri;

	env->mta = MTA_NONE;
	env->host = env->program = env->pid = SPAN_NONE;
	if (n < 16)
		return false;
	if (*p == '<') {
		/* <PRI> of RFC 5424 or of raw BSD syslog */
		const char *q = p + 1;

		while (q < e && q - p < 5 && is_digit(*q))
			q++;
		if (q >= e || *q != '>' || !digits(p + 1, (size_t)(q - p - 1), &pri))
			return false;
		p = q + 1;
		if (e - p > 2 && p[0] == '1' && p[1] == ' ') {
			if (!parse_rfc5424(p + 2, e, env))
				return false;
			goto done;
		}
	}
	if (e - p >= 15 && p[3] == ' ' && (mon = month_number(p, &y->month_hint)) != 0) {
		struct timestamp *ts = &env->ts;
		const char *t;

		/* the day: " 7" (syslog), "07", or "7" (some relays drop the pad) */
		if (p[4] == ' ' && is_digit(p[5]) && p[6] == ' ') {
			ts->day = p[5] - '0';
			t = p + 7;
		} else if (is_digit(p[4]) && is_digit(p[5]) && p[6] == ' ') {
			ts->day = (p[4] - '0') * 10 + (p[5] - '0');
			t = p + 7;
		} else if (is_digit(p[4]) && p[5] == ' ') {
			ts->day = p[4] - '0';
			t = p + 6;
		} else
			return false;
		if (e - t < 8 || ts->day < 1 || ts->day > 31 || !parse_hms(t, ts))
			return false;
		p = t + 8;
		ts->mon = mon;
		ts->frac[0] = '\0';
		ts->has_tz = false;
		ts->tz_minutes = 0;
		if (!after_host_tag(p, e, env))
			return false;
		ts->year = infer_year(y, mon);
		ts->has_year = true;
		goto done;
	}
	if (is_digit(*p)) {
		const char *q = p;

		if (e - p > 19 && p[10] == 'T') {
			if (!parse_iso_ts(&q, e, &env->ts) || !after_host_tag(q, e, env))
				return false;
			goto done;
		}
		if (e - p > 20 && p[10] == ' ' && parse_exim_ts(&q, e, &env->ts)) {
			/* Exim's own mainlog: no host, no program */
			if (q < e && *q == ' ')
				q++;
			if (e - q > 2 && *q == '[') {
				const char *r = q + 1;

				while (r < e && is_digit(*r))
					r++;
				if (r < e && *r == ']') {
					env->pid = (struct span){q + 1, (size_t)(r - q - 1)};
					q = r + 1;
					if (q < e && *q == ' ')
						q++;
				}
			}
			env->program = (struct span){"exim", 4};
			env->msg = (struct span){q, (size_t)(e - q)};
			env->mta = MTA_EXIM;
			return true;
		}
	}
	return false;
done:
	env->mta = mta_from_program(env->program);
	if (env->mta == MTA_EXIM)
		exim_inner(env);
	return true;
}

/* put_digits - V in exactly N decimal digits, zero-padded */
static char *
put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void
envelope_format_ts(const struct timestamp *ts, char *buf, size_t size)
{
	/* by hand: this runs once per stored event, and snprintf costs more
	 * than the rest of the row's preparation */
	char tmp[64], *p = tmp;
	size_t n;

	buf[0] = '\0';
	if (ts->year == 0 || ts->year > 9999 || ts->year < 0)
		return;
	p = put_digits(p, ts->year, 4);
	*p++ = '-';
	p = put_digits(p, ts->mon, 2);
	*p++ = '-';
	p = put_digits(p, ts->day, 2);
	*p++ = 'T';
	p = put_digits(p, ts->hour, 2);
	*p++ = ':';
	p = put_digits(p, ts->min, 2);
	*p++ = ':';
	p = put_digits(p, ts->sec, 2);
	if (ts->frac[0] != '\0') {
		size_t f = strnlen(ts->frac, sizeof ts->frac);

		if (f > 20)
			f = 20;
		*p++ = '.';
		memcpy(p, ts->frac, f);
		p += f;
	}
	if (ts->has_tz) {
		int m = ts->tz_minutes < 0 ? -ts->tz_minutes : ts->tz_minutes;

		if (m == 0)
			*p++ = 'Z';
		else {
			*p++ = ts->tz_minutes < 0 ? '-' : '+';
			p = put_digits(p, m / 60 % 100, 2);
			*p++ = ':';
			p = put_digits(p, m % 60, 2);
		}
	}
	n = (size_t)(p - tmp);
	if (n >= size)
		return;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int64_t
envelope_ts_epoch(const struct timestamp *ts)
{
	int64_t t;

	if (ts->year == 0)
		return 0;
	if (!ts->has_tz) {
		/* Local time: the C library applies the zone and DST.  mktime() is
		 * slow (it may stat the zone file), so the start of the last hour
		 * asked for is cached; DST changes fall on hour boundaries. */
		static _Thread_local int c_year, c_mon, c_day, c_hour = -1;
		static _Thread_local int64_t c_base;
		struct tm tm = {0};

		if (ts->year != c_year || ts->mon != c_mon || ts->day != c_day ||
		    ts->hour != c_hour) {
			tm.tm_year = ts->year - 1900;
			tm.tm_mon = ts->mon - 1;
			tm.tm_mday = ts->day;
			tm.tm_hour = ts->hour;
			tm.tm_isdst = -1;
			c_base = (int64_t)mktime(&tm);
			c_year = ts->year;
			c_mon = ts->mon;
			c_day = ts->day;
			c_hour = ts->hour;
		}
		return c_base + ts->min * 60 + ts->sec;
	}
	t = days_from_civil(ts->year, ts->mon, ts->day) * 86400 + ts->hour * 3600 + ts->min * 60 +
	    ts->sec;
	return t - (int64_t)ts->tz_minutes * 60;
}
