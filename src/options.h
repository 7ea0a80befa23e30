/*
 * options.h - the command line.
 *
 * Owns: parsing argv into struct options (getopt_long), the --help text,
 * parsing dates for --since/--until, and the default database path.
 * Does not own: acting on the options (main.c).
 */
#ifndef SMTPLOG_OPTIONS_H
#define SMTPLOG_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum command { CMD_REPORT, CMD_HELP, CMD_VERSION, CMD_EXPLAIN, CMD_CODES };

struct options {
	enum command command;
	char **files;
	int nfiles;
	const char *db;       /* NULL: default path */
	const char *patterns; /* NULL: installed directory */
	const char *unmatched;
	const char *output;
	const char *format;  /* NULL: from --output's extension, else text */
	const char *section; /* CSV section */
	const char *domain;
	int year;
	int top;
	bool all;
	bool report_only;
	bool redact;
	int progress;           /* -1 auto, 0 off, 1 on */
	int64_t since, until;   /* epoch, 0 open */
	int keep_days;          /* 0: keep all */
	int code_class;         /* codes --class N, 0: all */
	double max_bounce_rate; /* <0: unset */
	double max_deferral_rate;
};

/* options_parse - 0, or -1 with *cause (a usage error) */
int options_parse(int argc, char **argv, struct options *o, char **cause);
void options_usage(FILE *out);

/* options_parse_time - "today", "yesterday", YYYY-MM-DD, ISO timestamps;
 * NOW is the reference; -1 on error */
int options_parse_time(const char *s, time_t now, int64_t *out);

/* options_default_db - ${XDG_STATE_HOME:-$HOME/.local/state}/smtplog-report/smtplog.db,
 * creating its folders (0700); NULL with *cause */
char *options_default_db(char **cause);

#endif
