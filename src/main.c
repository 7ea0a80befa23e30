/*
 * main.c - smtplog-report: the command.
 *
 * Owns: deciding what each error means for the exit status (SPEC section 7)
 * and the order of the stages: options, patterns, database, ingestion of
 * every input, retention, report.  Everything else is in the library.
 */
#include "config.h"

#include "analyze.h"
#include "codes.h"
#include "diag.h"
#include "ingest.h"
#include "options.h"
#include "patterns.h"
#include "redact.h"
#include "report.h"
#include "report_agg.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(HAVE_MALLOC_TRIM) || defined(HAVE_MALLOPT)
#include <malloc.h>
#endif
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum exit_status {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_IO = 2,
	EXIT_PATTERNS = 3,
	EXIT_THRESHOLD = 4,
};

/* open_private - fopen(PATH, "w") with mode 0600 for a new file */
static FILE *
open_private(const char *path, char **cause)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return f;
}

/* phase_time - with SMTPLOG_TIMING set, print how long each stage took,
 * and the peak resident memory so far */
static void
phase_time(const char *phase)
{
	static struct timespec last;
	struct timespec now;
	struct rusage ru;

	if (getenv("SMTPLOG_TIMING") == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (phase != NULL && last.tv_sec != 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		fprintf(stderr, "timing: %-10s %.3f s (peak RSS %.1f MiB)\n", phase,
		        diag_seconds(&last, &now), (double)ru.ru_maxrss / 1024.0);
	last = now;
}

/* codes_path - the knowledge base beside the pattern files (to free) */
static char *
codes_path(const struct options *opt)
{
	return xasprintf("%s/codes.tsv", opt->patterns ? opt->patterns : patterns_default_dir());
}

/* load_codes - the knowledge base */
static struct codes *
load_codes(const struct options *opt, char **cause)
{
	char *path = codes_path(opt);
	struct codes *kb = codes_load(path, cause);

	free(path);
	return kb;
}

/* sync_codes - the knowledge base into ST, read and written only when its
 * file changed since it was; an exit status */
static int
sync_codes(const struct options *opt, struct store *st, char **cause)
{
	char *path = codes_path(opt);
	struct codes *kb = NULL;
	uint64_t digest;
	int status = EXIT_OK;

	if (codes_file_digest(path, &digest, cause) != 0 ||
	    (!store_codes_current(st, digest) && (kb = codes_load(path, cause)) == NULL))
		status = EXIT_PATTERNS;
	else if ((kb != NULL && store_sync_codes(st, kb, digest, cause) != 0) ||
	         store_commit(st, cause) != 0) /* with a new database's schema */
		status = EXIT_IO;
	codes_free(kb);
	free(path);
	return status;
}

static double
rate(uint64_t part, uint64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct patterns *pats = NULL;
	struct store *st = NULL;
	struct report *rep = NULL;
	struct report_job *job = NULL;
	struct ingest_options iopt = {0};
	struct report_scope scope = {0};
	struct report_agg *counted = NULL;
	int64_t *ids = NULL;
	size_t nids = 0;
	char *cause = NULL, *db_path = NULL;
	char *stdin_only[] = {"-"};
	FILE *out = stdout;
	int status = EXIT_OK;

#if defined(HAVE_MALLOPT) && defined(M_ARENA_MAX)
	/* One malloc arena for every thread.  The writer thread fills
	 * SQLite's page cache during the load; when the database returns to
	 * WAL mode the cache is dropped, and the main thread refills it for
	 * the analysis.  With an arena per thread the dropped pages stayed in
	 * the writer's arena: 10-12 MiB more peak RSS at 100 MB of Postfix,
	 * none with one arena, and no slower (no per-line allocation contends
	 * for it). */
	(void)mallopt(M_ARENA_MAX, 1);
#endif
	phase_time(NULL);
	if (options_parse(argc, argv, &opt, &cause) != 0) {
		diag_warn("%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	if (opt.command == CMD_HELP) {
		options_usage(stdout);
		return EXIT_OK;
	}
	if (opt.command == CMD_VERSION) {
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (opt.command == CMD_EXPLAIN || opt.command == CMD_CODES) {
		struct codes *kb = load_codes(&opt, &cause);
		int rc = EXIT_OK;

		if (kb == NULL) {
			diag_warn("%s", cause);
			free(cause);
			return EXIT_PATTERNS;
		}
		if (opt.command == CMD_CODES)
			codes_list(kb, opt.code_class, stdout);
		else if (codes_explain(kb, opt.nfiles, opt.files, stdout, &cause) != 0) {
			diag_warn("%s", cause);
			rc = EXIT_USAGE;
		}
		codes_free(kb);
		free(cause);
		return rc;
	}
	if (opt.nfiles == 0 && !opt.report_only) {
		if (isatty(STDIN_FILENO)) {
			diag_warn("no input: name a log FILE, - for stdin, or use --report-only "
			          "(see --help)");
			return EXIT_USAGE;
		}
		opt.files = stdin_only;
		opt.nfiles = 1;
	}
	if (!opt.report_only) {
		const char *dir = opt.patterns ? opt.patterns : patterns_default_dir();

		pats = patterns_load(dir, &cause);
		if (pats == NULL) {
			diag_warn("%s", cause);
			free(cause);
			return EXIT_PATTERNS;
		}
		phase_time("patterns");
	}
	if (opt.db != NULL)
		db_path = xstrdup(opt.db);
	else if ((db_path = options_default_db(&cause)) == NULL) {
		diag_warn("%s", cause);
		status = EXIT_IO;
		goto done;
	}
	st = store_open(db_path, &cause);
	if (st == NULL) {
		diag_warn("%s", cause);
		status = EXIT_IO;
		goto done;
	}
	phase_time("open");
	/* the knowledge base goes into every database, for hints and joins */
	status = sync_codes(&opt, st, &cause);
	if (status != EXIT_OK) {
		diag_warn("%s", cause);
		goto done;
	}
	phase_time("codes");
	if (opt.unmatched != NULL && !opt.report_only) {
		iopt.unmatched = open_private(opt.unmatched, &cause);
		if (iopt.unmatched == NULL) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
	}
	if (opt.redact) {
		char *key = strcmp(db_path, ":memory:") == 0 ? NULL : xasprintf("%s.key", db_path);

		iopt.redact = redact_open(key, &cause);
		free(key);
		if (iopt.redact == NULL) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
	}
	iopt.forced_year = opt.year;
	iopt.progress = opt.progress == 1                               ? 1
	                : (opt.progress == -1 && isatty(STDERR_FILENO)) ? 2
	                                                                : 0;
	/* the report covers this run's files (source_ids, once they are
	 * read), or with --all and --report-only every file (NULL) */
	scope.since = opt.since;
	scope.until = opt.until;
	scope.domain = opt.domain;
	scope.top = opt.top;
	scope.db_path = store_path(st);
	scope.section = opt.section;
	scope.redact = iopt.redact;
	if (!opt.report_only) {
		if (store_bulk_begin(st, &cause) != 0) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
		ids = xcalloc((size_t)opt.nfiles, sizeof *ids);
		for (int i = 0; i < opt.nfiles; i++) {
			struct ingest_result res;

			if (ingest_file(st, pats, opt.files[i], &iopt, &res, &cause) != 0) {
				diag_warn("%s", cause);
				status = EXIT_IO;
			}
			if (res.source_id > 0)
				ids[nids++] = res.source_id;
			if (res.too_long > 0)
				diag_warn("%s: %llu lines longer than %d bytes were cut",
				          opt.files[i], (unsigned long long)res.too_long,
				          1024 * 1024);
		}
		phase_time("read");
		scope.source_ids = opt.all ? NULL : ids;
		scope.nsources = nids;
		/* The report's sections that read the events alone are read
		 * beside the analysis; the message index, if a later analysis
		 * needs it and the database lacks it, is built before both.
		 * With --keep-days the pruning comes first. */
		if (store_bulk_end(st, &cause) != 0 || analyze_prepare(st, &cause) != 0) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
		/* a first load reported whole, with nothing pruned: its
		 * failures were counted as they were stored */
		if (opt.keep_days == 0 && opt.since == 0 && opt.until == 0 && opt.domain == NULL &&
		    !diag_env_set("SMTPLOG_READ_BACK"))
			scope.counted = counted = store_take_counts(st);
		if (opt.keep_days == 0)
			job = report_start(store_db(st), store_path(st), &scope);
		phase_time("index");
		if (analyze_events(st, pats, &cause) != 0) {
			diag_warn("%s", cause);
			status = EXIT_IO;
		}
		phase_time("analyze");
	} else {
		if (opt.nfiles > 0)
			diag_warn("--report-only reads no FILE: reporting on the whole database");
		/* a database this run created is in WAL mode too when it ends */
		if (store_bulk_end(st, &cause) != 0) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
	}
	if (opt.keep_days > 0) {
		int64_t n =
		    store_prune(st, (int64_t)time(NULL) - (int64_t)opt.keep_days * 86400, &cause);

		if (n < 0) {
			diag_warn("%s", cause);
			status = EXIT_IO;
		}
	}
	if (store_commit(st, &cause) != 0) {
		diag_warn("%s", cause);
		status = EXIT_IO;
	}
	/* the run's last writes: copied from the WAL while the report is made */
	store_checkpoint_beside(st);
	if (opt.output != NULL) {
		out = open_private(opt.output, &cause);
		if (out == NULL) {
			diag_warn("%s", cause);
			status = EXIT_IO;
			goto done;
		}
	}
	/* The pages the analysis cached are not the report's: give them back
	 * (to the system too, where malloc_trim exists), and halve the page
	 * cache, so that the report's memory and the analysis' add up to less
	 * (49 MiB on 4 GB of Postfix, 68 MiB before this). */
	store_release_memory(st);
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
	if (job == NULL)
		job = report_start(store_db(st), store_path(st), &scope);
	rep = report_finish(job, &cause);
	job = NULL;
	if (rep == NULL) {
		diag_warn("%s", cause);
		status = EXIT_IO;
		goto done;
	}
	phase_time("report");
	report_render(rep, opt.format, opt.section, out);
	phase_time("render");
	if (fflush(out) != 0 || ferror(out)) {
		diag_warn("%s: %s", opt.output ? opt.output : "(stdout)", strerror(errno));
		status = EXIT_IO;
	}
	if (status == EXIT_OK) {
		uint64_t sent = report_count(rep, "sent"), deferred = report_count(rep, "deferred");
		uint64_t bounced = report_count(rep, "bounced") + report_count(rep, "expired");
		double br = rate(bounced, sent + bounced),
		       dr = rate(deferred, sent + bounced + deferred);

		if (opt.max_bounce_rate >= 0 && br > opt.max_bounce_rate) {
			diag_warn("bounce rate %.1f%% exceeds --max-bounce-rate %g%%", br,
			          opt.max_bounce_rate);
			status = EXIT_THRESHOLD;
		}
		if (opt.max_deferral_rate >= 0 && dr > opt.max_deferral_rate) {
			diag_warn("deferral rate %.1f%% exceeds --max-deferral-rate %g%%", dr,
			          opt.max_deferral_rate);
			status = EXIT_THRESHOLD;
		}
	}
done:
	if (job != NULL)
		report_free(report_finish(job, NULL));
	if (out != stdout && out != NULL)
		fclose(out);
	if (iopt.unmatched != NULL && fclose(iopt.unmatched) != 0) {
		diag_warn("%s: %s", opt.unmatched, strerror(errno));
		status = EXIT_IO;
	}
	free(cause);
	free(ids);
	free(db_path);
	report_free(rep);
	report_agg_free(counted);
	store_close(st);
	phase_time("close");
	patterns_free(pats);
	redact_free(iopt.redact);
	return status;
}
