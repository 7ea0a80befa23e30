/*
 * options.c - the command line.
 */
#include "config.h"

#include "options.h"

#include "diag.h"
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
	OPT_UNMATCHED = 256,
	OPT_YEAR,
	OPT_TOP,
	OPT_ALL,
	OPT_REPORT_ONLY,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_DOMAIN,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_KEEP_DAYS,
	OPT_MAX_BOUNCE,
	OPT_MAX_DEFERRAL,
	OPT_FORMAT,
	OPT_SECTION,
	OPT_REDACT,
};

static const struct option long_options[] = {
    {"db", required_argument, NULL, 'd'},
    {"patterns", required_argument, NULL, 'p'},
    {"output", required_argument, NULL, 'o'},
    {"unmatched", required_argument, NULL, OPT_UNMATCHED},
    {"year", required_argument, NULL, OPT_YEAR},
    {"top", required_argument, NULL, OPT_TOP},
    {"all", no_argument, NULL, OPT_ALL},
    {"report-only", no_argument, NULL, OPT_REPORT_ONLY},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"domain", required_argument, NULL, OPT_DOMAIN},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"keep-days", required_argument, NULL, OPT_KEEP_DAYS},
    {"max-bounce-rate", required_argument, NULL, OPT_MAX_BOUNCE},
    {"max-deferral-rate", required_argument, NULL, OPT_MAX_DEFERRAL},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"section", required_argument, NULL, OPT_SECTION},
    {"redact", no_argument, NULL, OPT_REDACT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

void
options_usage(FILE *out)
{
	fputs(
	    "Usage: smtplog-report [OPTION]... [FILE]...\n"
	    "       smtplog-report explain CODE|REPLY...\n"
	    "       smtplog-report codes [--class 2|3|4|5]\n"
	    "Read Postfix, Exim and Sendmail logs (plain, .gz, or - for stdin), store every\n"
	    "delivery outcome and SMTP-time rejection in an SQLite database, and print why\n"
	    "mail failed.  With no FILE, read stdin when it is not a terminal.\n"
	    "\n"
	    "  -d, --db PATH            database (default\n"
	    "                           "
	    "${XDG_STATE_HOME:-~/.local/state}/smtplog-report/smtplog.db;\n"
	    "                           :memory: for none)\n"
	    "  -p, --patterns DIR       pattern files (default " PATTERNS_DIR ")\n"
	    "  -o, --output FILE        write the report to FILE instead of stdout\n"
	    "      --format FORMAT      text (default), json, csv or html; with --output,\n"
	    "                           the default follows the file's extension\n"
	    "      --section NAME       the table CSV writes (default: bounces)\n"
	    "      --unmatched FILE     write outcome-like lines that no pattern matched\n"
	    "      --year YYYY          year of syslog lines that carry none (default: inferred)\n"
	    "      --top N              rows per report section (default 10)\n"
	    "      --all                report on the whole database, not just these FILEs\n"
	    "      --report-only        read no logs; report from the database (implies --all\n"
	    "                           when no FILE is named)\n"
	    "      --since WHEN         only events at or after WHEN: today, yesterday,\n"
	    "                           YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][zone]\n"
	    "      --until WHEN         only events before WHEN\n"
	    "      --domain DOMAIN      only events for this recipient domain\n"
	    "      --redact             replace the local part of every address with a keyed\n"
	    "                           hash (key in DB.key, 0600) in the database and reports\n"
	    "      --keep-days N        delete events older than N days from the database\n"
	    "      --max-bounce-rate PCT    exit 4 if more than PCT% of outcomes bounced\n"
	    "      --max-deferral-rate PCT  exit 4 if more than PCT% of outcomes were deferrals\n"
	    "      --progress, --no-progress  progress on stderr (default: on a terminal,\n"
	    "                           for inputs over 8 MB)\n"
	    "  -h, --help               show this help and exit\n"
	    "  -V, --version            show the version and exit\n"
	    "\n"
	    "Commands:\n"
	    "  explain CODE...          what a reply code (550), an enhanced status code\n"
	    "                           (5.1.1) or a whole reply (\"550 5.1.1 User unknown\")\n"
	    "                           means, whether to retry, and how to fix it\n"
	    "  codes [--class N]        list every known code, by class and subject\n"
	    "\n"
	    "Exit status: 0 success, 1 usage error, 2 an input or the database could not be\n"
	    "read or written, 3 a pattern file is broken, 4 a --max-*-rate was exceeded.\n"
	    "See smtplog-report(1).\n",
	    out);
}

static int
parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
parse_pct(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || (*end != '\0' && strcmp(end, "%") != 0) || v < 0 || v > 100)
		return -1;
	*out = v;
	return 0;
}

int
options_parse_time(const char *s, time_t now, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	char zone[8] = "";

	localtime_r(&now, &tm);
	if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		if (strcmp(s, "yesterday") == 0)
			tm.tm_mday -= 1;
		tm.tm_isdst = -1;
		*out = (int64_t)mktime(&tm);
		return 0;
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	if (s[10] == 'T' || s[10] == ' ') {
		int m = 0;

		if (sscanf(s + 11, "%2d:%2d%n", &h, &mi, &m) != 2)
			return -1;
		n = 11 + m;
		if (s[n] == ':') {
			if (sscanf(s + n + 1, "%2d%n", &sec, &m) != 1)
				return -1;
			n += 1 + m;
		}
		if (s[n] == '.') {
			n++;
			while (s[n] >= '0' && s[n] <= '9')
				n++;
		}
		if (strlen(s + n) >= sizeof zone)
			return -1;
		strcpy(zone, s + n);
	} else if (s[10] != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (zone[0] == '\0') {
		tm.tm_isdst = -1;
		*out = (int64_t)mktime(&tm);
		return 0;
	}
	{
		int zh = 0, zm = 0, sign = 1;
		int64_t t = (int64_t)timegm(&tm);

		if (strcmp(zone, "Z") != 0) {
			if ((zone[0] != '+' && zone[0] != '-') ||
			    (sscanf(zone + 1, "%2d:%2d", &zh, &zm) != 2 &&
			     sscanf(zone + 1, "%2d%2d", &zh, &zm) != 2))
				return -1;
			sign = zone[0] == '-' ? -1 : 1;
		}
		*out = t - sign * (int64_t)(zh * 3600 + zm * 60);
	}
	return 0;
}

int
options_parse(int argc, char **argv, struct options *o, char **cause)
{
	int c;
	time_t now = time(NULL);

	memset(o, 0, sizeof *o);
	o->top = 10;
	o->progress = -1;
	o->max_bounce_rate = o->max_deferral_rate = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+d:p:o:hV", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->db = optarg;
			break;
		case 'p':
			o->patterns = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case OPT_UNMATCHED:
			o->unmatched = optarg;
			break;
		case OPT_YEAR:
			if (parse_int(optarg, 1970, 9999, &o->year) != 0) {
				set_cause(cause, "--year: '%s' is not a year", optarg);
				return -1;
			}
			break;
		case OPT_TOP:
			if (parse_int(optarg, 1, 100000, &o->top) != 0) {
				set_cause(cause, "--top: '%s' is not a count from 1", optarg);
				return -1;
			}
			break;
		case OPT_REDACT:
			o->redact = true;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_REPORT_ONLY:
			o->report_only = true;
			break;
		case OPT_SINCE:
		case OPT_UNTIL:
			if (options_parse_time(optarg, now,
			                       c == OPT_SINCE ? &o->since : &o->until) != 0) {
				set_cause(cause,
				          "%s: '%s' is not a time (today, yesterday, YYYY-MM-DD or "
				          "YYYY-MM-DDTHH:MM:SS)",
				          c == OPT_SINCE ? "--since" : "--until", optarg);
				return -1;
			}
			break;
		case OPT_DOMAIN:
			o->domain = optarg;
			break;
		case OPT_PROGRESS:
			o->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			o->progress = 0;
			break;
		case OPT_KEEP_DAYS:
			if (parse_int(optarg, 1, 100000, &o->keep_days) != 0) {
				set_cause(cause, "--keep-days: '%s' is not a number of days",
				          optarg);
				return -1;
			}
			break;
		case OPT_MAX_BOUNCE:
		case OPT_MAX_DEFERRAL:
			if (parse_pct(optarg, c == OPT_MAX_BOUNCE ? &o->max_bounce_rate
			                                          : &o->max_deferral_rate) != 0) {
				set_cause(cause, "%s: '%s' is not a percentage from 0 to 100",
				          c == OPT_MAX_BOUNCE ? "--max-bounce-rate"
				                              : "--max-deferral-rate",
				          optarg);
				return -1;
			}
			break;
		case OPT_FORMAT:
			if (!report_format_known(optarg)) {
				set_cause(cause,
				          "--format: '%s' is not a format (text, json, csv, html)",
				          optarg);
				return -1;
			}
			o->format = optarg;
			break;
		case OPT_SECTION:
			if (!report_section_known(optarg)) {
				set_cause(cause,
				          "--section: '%s' is not a section (see the man page)",
				          optarg);
				return -1;
			}
			o->section = optarg;
			break;
		case 'h':
			o->command = CMD_HELP;
			return 0;
		case 'V':
			o->command = CMD_VERSION;
			return 0;
		default:
			if (optopt != 0 && optopt < 256)
				set_cause(cause, "unknown option '-%c' (see --help)", optopt);
			else
				set_cause(cause, "unknown or incomplete option '%s' (see --help)",
				          argv[optind - 1]);
			return -1;
		}
	}
	if (o->format == NULL && o->output != NULL)
		o->format = report_format_for_path(o->output);
	if (o->format == NULL)
		o->format = "text";
	if (o->section != NULL && strcmp(o->format, "csv") != 0) {
		set_cause(cause, "--section applies to --format csv only");
		return -1;
	}
	if (o->since != 0 && o->until != 0 && o->until <= o->since) {
		set_cause(cause, "--until must be later than --since");
		return -1;
	}
	o->nfiles = argc - optind;
	o->files = argv + optind;
	if (o->nfiles > 0 && strcmp(o->files[0], "explain") == 0) {
		o->command = CMD_EXPLAIN;
		o->files++;
		o->nfiles--;
	} else if (o->nfiles > 0 && strcmp(o->files[0], "codes") == 0) {
		o->command = CMD_CODES;
		for (int i = 1; i < o->nfiles; i++) {
			const char *v = NULL;

			if (strcmp(o->files[i], "--class") == 0 && i + 1 < o->nfiles)
				v = o->files[++i];
			else if (strncmp(o->files[i], "--class=", 8) == 0)
				v = o->files[i] + 8;
			if (v == NULL || parse_int(v, 2, 5, &o->code_class) != 0) {
				set_cause(cause, "codes: expected --class 2|3|4|5, not '%s'",
				          v ? v : o->files[i]);
				return -1;
			}
		}
		o->nfiles = 0;
	}
	return 0;
}

/* mkdirs - create every missing folder of PATH (not its last part) */
static int
mkdirs(char *path, char **cause)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			set_cause(cause, "%s: %s", path, strerror(errno));
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

char *
options_default_db(char **cause)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *path;

	if (state != NULL && state[0] == '/')
		path = xasprintf("%s/smtplog-report/smtplog.db", state);
	else if (home != NULL && home[0] != '\0')
		path = xasprintf("%s/.local/state/smtplog-report/smtplog.db", home);
	else {
		set_cause(cause,
		          "neither XDG_STATE_HOME nor HOME is set: name a database with --db");
		return NULL;
	}
	if (mkdirs(path, cause) != 0) {
		free(path);
		return NULL;
	}
	return path;
}
