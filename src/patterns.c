/*
 * patterns.c - pattern files: loading, compiling and matching rules.
 *
 * File format (one directive per line; "#" starts a comment line; a line
 * that starts with white space continues the previous directive, its
 * leading white space removed, so a long regex can be split anywhere):
 *
 *   mta postfix                 which MTA this file describes
 *   programs postfix            syslog program-name prefixes of that MTA
 *   candidate " status="        a literal marking lines that should match
 *                               some rule (for --unmatched); may repeat
 *   rule delivery               starts a rule; the name is stored per event
 *     program /(?:smtp|lmtp)$   optional regex on the program name
 *     require ", status="       literal that must occur (memmem, before the
 *                               regex); may repeat
 *     require-any "a b" c       one of these literals must occur (words, or
 *                               in double quotes); may repeat
 *     status rejected           status when the regex captures none
 *     class 4                   class when the line carries no code (Exim
 *                               logs no code for its own rejects)
 *     match ^(?<queue_id>\w+): ...   the regex, on the message text
 *
 *   signature greylist postgrey Greylisted, see http://postgrey
 *                               a wording signature: SET, NAME, and a
 *                               case-insensitive regex on a response text
 *                               (greylist, other-cause, transient,
 *                               permanent); a file of signatures needs no
 *                               'mta' line
 *
 * Literals may be written in double quotes to keep spaces at their ends.
 * Regexes are compiled without auto-capture: only named groups capture, and
 * every name must be an event field (enum field).
 */
#include "config.h"

#include "patterns.h"

#include "diag.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct literal {
	char *p;
	size_t n;
	size_t pivot; /* index of the byte searched with memchr (the rarest) */
};

struct rule {
	char *name; /* "mta/rule" */
	pcre2_code *re;
	bool jit;
	/* its regexes are JIT-compiled the first time a line needs them
	 * (rule_jit): a log of one MTA never compiles the others' rules, nor
	 * the rules its lines never reach (2-3 ms of each run's start) */
	bool jit_pending;
	pcre2_code *program_re;
	bool program_jit;
	struct literal *require;
	size_t nrequire;
	size_t *require_idx; /* the same literals, as indexes into the set's lits */
	/* each literal's group: the literals of one 'require' or 'require-any'
	 * line, next to each other, numbered from 0; a line's group is met when
	 * one of its literals occurs */
	size_t *require_group;
	enum status status;
	int class_code;              /* class when the line carries no code, or 0 */
	uint32_t group[FIELD_COUNT]; /* capture group number, 0 if absent */
};

struct signature {
	char *set;  /* "greylist", "other-cause", "transient", "permanent" */
	char *name; /* "postgrey" */
	pcre2_code *re;
	bool jit;
};

struct pattern_set {
	char *path;
	struct signature *sigs;
	size_t nsigs;
	enum mta mta;
	struct literal *programs;
	size_t nprograms;
	struct literal *candidates;
	size_t ncandidates;
	struct rule *rules;
	size_t nrules;
	/* every distinct literal of the set (requires and candidates): a line is
	 * searched for each at most once */
	struct literal *lits;
	size_t nlits;
	/* for each of lits, the longest other literal inside it (SIZE_MAX:
	 * none): a line without that one has neither, unsearched */
	size_t *inner;
	size_t *candidate_idx;
};

#define MAX_LITERALS 64

struct patterns {
	struct pattern_set *sets;
	size_t nsets;
	pcre2_match_data *md;
	pcre2_jit_stack *jit_stack;
	pcre2_match_context *mctx;
	uint32_t max_groups;
	bool borrowed; /* a patterns_for_thread() copy: owns only the above */
};

static const char *const field_names[FIELD_COUNT] = {
    [FIELD_QUEUE_ID] = "queue_id",
    [FIELD_SENDER] = "sender",
    [FIELD_RECIPIENT] = "recipient",
    [FIELD_RECIPIENTS] = "recipients",
    [FIELD_ORIG_RECIPIENT] = "orig_recipient",
    [FIELD_RELAY] = "relay",
    [FIELD_CLIENT] = "client",
    [FIELD_STATUS] = "status",
    [FIELD_DSN] = "dsn",
    [FIELD_RESPONSE] = "response",
    [FIELD_REPLY] = "reply",
    [FIELD_REPLY_CODE] = "reply_code",
    [FIELD_ENHANCED_CODE] = "enhanced_code",
};

const char *
field_name(enum field f)
{
	return f < FIELD_COUNT ? field_names[f] : "?";
}

const char *
patterns_default_dir(void)
{
#ifdef ABS_BUILDDIR
	/* Run from the build tree (tests, corpus checks): use the source tree's
	 * patterns, never an older installed copy. */
	static char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		self[n] = '\0';
		if (strncmp(self, ABS_BUILDDIR "/", sizeof ABS_BUILDDIR) == 0)
			return ABS_SRCDIR "/patterns";
	}
#endif
	return PATTERNS_DIR;
}

static void
literal_free(struct literal *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i].p);
	free(l);
}

static void
rule_free(struct rule *r)
{
	free(r->name);
	pcre2_code_free(r->re);
	pcre2_code_free(r->program_re);
	literal_free(r->require, r->nrequire);
	free(r->require_idx);
	free(r->require_group);
}

static void
set_free(struct pattern_set *s)
{
	for (size_t i = 0; i < s->nsigs; i++) {
		free(s->sigs[i].set);
		free(s->sigs[i].name);
		pcre2_code_free(s->sigs[i].re);
	}
	free(s->sigs);
	free(s->path);
	literal_free(s->programs, s->nprograms);
	literal_free(s->candidates, s->ncandidates);
	literal_free(s->lits, s->nlits);
	free(s->candidate_idx);
	free(s->inner);
	for (size_t i = 0; i < s->nrules; i++)
		rule_free(&s->rules[i]);
	free(s->rules);
}

void
patterns_free(struct patterns *pats)
{
	if (pats == NULL)
		return;
	if (!pats->borrowed) {
		for (size_t i = 0; i < pats->nsets; i++)
			set_free(&pats->sets[i]);
		free(pats->sets);
	}
	pcre2_match_data_free(pats->md);
	pcre2_match_context_free(pats->mctx);
	pcre2_jit_stack_free(pats->jit_stack);
	free(pats);
}

static enum mta
mta_parse(const char *s)
{
	for (enum mta m = MTA_POSTFIX; m < MTA_COUNT; m++) {
		if (strcmp(s, mta_name(m)) == 0)
			return m;
	}
	return MTA_NONE;
}

/* unquote - a literal value: "..." keeps inner spaces */
static struct literal
unquote(const char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		return (struct literal){xstrndup(v + 1, n - 2), n - 2, 0};
	return (struct literal){xstrndup(v, n), n, 0};
}

static void
literal_add(struct literal **arr, size_t *n, struct literal l)
{
	*arr = xreallocarray(*arr, *n + 1, sizeof **arr);
	(*arr)[(*n)++] = l;
}

/* jit_wanted - JIT unless SMTPLOG_NO_JIT: the interpreter, for valgrind,
 * which cannot follow JIT code and reports false uninitialised reads in it */
static bool
jit_wanted(void)
{
	return getenv("SMTPLOG_NO_JIT") == NULL;
}

/* compile_opts - RE compiled, and JIT-compiled now (JIT not NULL) or
 * later by the caller (rule_jit); on error NULL with *cause
 * "FILE:LINE: offset N: message" */
static pcre2_code *
compile_opts(const char *re, uint32_t opts, const char *file, int line, bool *jit, char **cause)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *code;
	PCRE2_UCHAR msg[256];

	/* PCRE2_DOTALL: a subject is one line, with no newline in it, so "."
	 * means the same either way; but "." need not test each byte for a
	 * newline, and ".*" jumps to the end: the Postfix delivery rule 2826
	 * -> 2501 instructions a line, ".*$" after a match 1000 -> 0 */
	code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	                     PCRE2_NO_AUTO_CAPTURE | PCRE2_DOTALL | opts, &err, &off, NULL);
	if (code == NULL) {
		pcre2_get_error_message(err, msg, sizeof msg);
		set_cause(cause, "%s:%d: offset %zu: %s", file, line, (size_t)off, (char *)msg);
		return NULL;
	}
	if (jit != NULL)
		*jit = jit_wanted() && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
	return code;
}

/* rule_jit - JIT-compile R's regexes, once */
static void
rule_jit(struct rule *r)
{
	r->jit_pending = false;
	if (r->program_re != NULL)
		r->program_jit = pcre2_jit_compile(r->program_re, PCRE2_JIT_COMPLETE) == 0;
	r->jit = pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE) == 0;
}

/* rule_map_groups - every named group must be a field */
static bool
rule_map_groups(struct rule *r, const char *file, int line, char **cause)
{
	uint32_t count, size;
	PCRE2_SPTR table;

	pcre2_pattern_info(r->re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(r->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(r->re, PCRE2_INFO_NAMETABLE, &table);
	for (uint32_t i = 0; i < count; i++) {
		PCRE2_SPTR ent = table + i * size;
		uint32_t num = ((uint32_t)ent[0] << 8) | ent[1];
		const char *name = (const char *)ent + 2;
		enum field f;

		for (f = 0; f < FIELD_COUNT; f++) {
			if (strcmp(name, field_names[f]) == 0)
				break;
		}
		if (f == FIELD_COUNT) {
			set_cause(cause, "%s:%d: rule %s: unknown capture name '%s'", file, line,
			          r->name, name);
			return false;
		}
		r->group[f] = num;
	}
	return true;
}

/* struct loader - parser state for one file */
struct loader {
	const char *file;
	struct pattern_set *set;
	struct rule *rule; /* the rule being defined, or NULL */
	int rule_line;
	char *match_re;
	int match_line;
	char *program_re;
	int program_line;
	char **cause;
};

static bool
loader_finish_rule(struct loader *ld)
{
	struct rule *r = ld->rule;
	bool ok = true;

	if (r == NULL)
		return true;
	if (ld->match_re == NULL) {
		set_cause(ld->cause, "%s:%d: rule %s has no 'match' line", ld->file, ld->rule_line,
		          r->name);
		ok = false;
	}
	if (ok && ld->program_re != NULL) {
		r->program_re =
		    compile_opts(ld->program_re, 0, ld->file, ld->program_line, NULL, ld->cause);
		ok = r->program_re != NULL;
	}
	if (ok) {
		r->re = compile_opts(ld->match_re, 0, ld->file, ld->match_line, NULL, ld->cause);
		ok = r->re != NULL && rule_map_groups(r, ld->file, ld->match_line, ld->cause);
		r->jit_pending = jit_wanted();
	}
	if (ok && r->group[FIELD_STATUS] == 0 && r->status == STATUS_NONE) {
		set_cause(ld->cause, "%s:%d: rule %s: no 'status' line and no (?<status>...) group",
		          ld->file, ld->rule_line, r->name);
		ok = false;
	}
	free(ld->match_re);
	free(ld->program_re);
	ld->match_re = ld->program_re = NULL;
	ld->rule = NULL;
	return ok;
}

static bool
loader_directive(struct loader *ld, int line, const char *key, const char *val)
{
	struct pattern_set *s = ld->set;

	if (strcmp(key, "rule") == 0) {
		if (!loader_finish_rule(ld))
			return false;
		if (s->mta == MTA_NONE) {
			set_cause(ld->cause, "%s:%d: 'mta' must come before the first rule",
			          ld->file, line);
			return false;
		}
		s->rules = xreallocarray(s->rules, s->nrules + 1, sizeof *s->rules);
		ld->rule = &s->rules[s->nrules++];
		memset(ld->rule, 0, sizeof *ld->rule);
		ld->rule->name = xasprintf("%s/%s", mta_name(s->mta), val);
		ld->rule_line = line;
		return true;
	}
	if (strcmp(key, "mta") == 0) {
		s->mta = mta_parse(val);
		if (s->mta == MTA_NONE) {
			set_cause(ld->cause, "%s:%d: unknown mta '%s' (postfix, exim or sendmail)",
			          ld->file, line, val);
			return false;
		}
		return true;
	}
	if (strcmp(key, "programs") == 0) {
		char *copy = xstrdup(val), *save = NULL;

		for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			literal_add(&s->programs, &s->nprograms, unquote(w));
		free(copy);
		return true;
	}
	if (strcmp(key, "signature") == 0) {
		/* signature SET NAME REGEX */
		char *copy = xstrdup(val), *save = NULL;
		char *set = strtok_r(copy, " \t", &save);
		char *name = set ? strtok_r(NULL, " \t", &save) : NULL;
		char *re = save;
		struct signature sig = {0};

		while (re != NULL && (*re == ' ' || *re == '\t'))
			re++;
		if (set == NULL || name == NULL || re == NULL || *re == '\0') {
			set_cause(ld->cause, "%s:%d: expected 'signature SET NAME REGEX'", ld->file,
			          line);
			free(copy);
			return false;
		}
		sig.re = compile_opts(re, PCRE2_CASELESS, ld->file, line, &sig.jit, ld->cause);
		if (sig.re == NULL) {
			free(copy);
			return false;
		}
		sig.set = xstrdup(set);
		sig.name = xstrdup(name);
		free(copy);
		s->sigs = xreallocarray(s->sigs, s->nsigs + 1, sizeof *s->sigs);
		s->sigs[s->nsigs++] = sig;
		return true;
	}
	if (strcmp(key, "candidate") == 0) {
		literal_add(&s->candidates, &s->ncandidates, unquote(val));
		return true;
	}
	if (ld->rule == NULL) {
		set_cause(ld->cause, "%s:%d: '%s' outside a rule (or unknown directive)", ld->file,
		          line, key);
		return false;
	}
	if (strcmp(key, "match") == 0) {
		free(ld->match_re);
		ld->match_re = xstrdup(val);
		ld->match_line = line;
		return true;
	}
	if (strcmp(key, "program") == 0) {
		free(ld->program_re);
		ld->program_re = xstrdup(val);
		ld->program_line = line;
		return true;
	}
	if (strcmp(key, "require") == 0 || strcmp(key, "require-any") == 0) {
		struct rule *r = ld->rule;
		size_t first = r->nrequire;
		size_t group = first > 0 ? r->require_group[first - 1] + 1 : 0;
		const char *p = val + strspn(val, " \t");

		/* require: one literal, the whole value; require-any: one or more,
		 * each a word or in double quotes */
		while (*p != '\0') {
			struct literal l;
			const char *e;

			if (strcmp(key, "require") == 0) {
				l = unquote(p);
				p += strlen(p);
			} else if (*p == '"') {
				e = strchr(p + 1, '"');
				if (e == NULL) {
					set_cause(ld->cause,
					          "%s:%d: unterminated quote in 'require-any'",
					          ld->file, line);
					return false;
				}
				l = (struct literal){xstrndup(p + 1, (size_t)(e - p - 1)),
				                     (size_t)(e - p - 1), 0};
				p = e + 1;
			} else {
				e = p + strcspn(p, " \t\""); /* a continuation joins "a"b */
				l = (struct literal){xstrndup(p, (size_t)(e - p)), (size_t)(e - p),
				                     0};
				p = e;
			}
			if (l.n == 0) {
				free(l.p);
				set_cause(ld->cause, "%s:%d: empty '%s' literal", ld->file, line,
				          key);
				return false;
			}
			literal_add(&r->require, &r->nrequire, l);
			r->require_group =
			    xreallocarray(r->require_group, r->nrequire, sizeof *r->require_group);
			r->require_group[r->nrequire - 1] = group;
			p += strspn(p, " \t");
		}
		if (r->nrequire == first) {
			set_cause(ld->cause, "%s:%d: '%s' needs a literal", ld->file, line, key);
			return false;
		}
		return true;
	}
	if (strcmp(key, "class") == 0) {
		if (strcmp(val, "2") != 0 && strcmp(val, "4") != 0 && strcmp(val, "5") != 0) {
			set_cause(ld->cause, "%s:%d: class must be 2, 4 or 5, not '%s'", ld->file,
			          line, val);
			return false;
		}
		ld->rule->class_code = val[0] - '0';
		return true;
	}
	if (strcmp(key, "status") == 0) {
		ld->rule->status = status_parse(val, strlen(val));
		if (ld->rule->status == STATUS_NONE) {
			set_cause(ld->cause, "%s:%d: unknown status '%s'", ld->file, line, val);
			return false;
		}
		return true;
	}
	set_cause(ld->cause, "%s:%d: unknown directive '%s'", ld->file, line, key);
	return false;
}

/* load_text - parse one file's text into SET */
static bool
load_text(struct pattern_set *set, const char *name, const char *text, size_t len, char **cause)
{
	struct loader ld = {.file = name, .set = set, .cause = cause};
	const char *p = text, *e = text + len;
	char *pending = NULL; /* directive being assembled */
	size_t plen = 0;
	int pline = 0, lineno = 0;
	bool ok = true;

	if (memchr(text, '\0', len) != NULL) {
		set_cause(cause, "%s: contains a NUL byte: not a pattern file", name);
		return false;
	}
	while (ok && (p < e || pending != NULL)) {
		const char *nl = p < e ? memchr(p, '\n', (size_t)(e - p)) : NULL;
		const char *le = nl ? nl : e;
		size_t n;
		bool cont;

		if (p < e) {
			lineno++;
			n = (size_t)(le - p);
			if (n > 0 && p[n - 1] == '\r')
				n--;
		} else
			n = 0;
		cont = p < e && n > 0 && (*p == ' ' || *p == '\t');
		if (cont && pending != NULL) {
			const char *q = p;

			while (q < p + n && (*q == ' ' || *q == '\t'))
				q++;
			pending = xreallocarray(pending, plen + (size_t)(p + n - q) + 1, 1);
			memcpy(pending + plen, q, (size_t)(p + n - q));
			plen += (size_t)(p + n - q);
			pending[plen] = '\0';
		} else {
			const char *q = p;

			while (q < p + n && (*q == ' ' || *q == '\t'))
				q++;
			if (pending != NULL) {
				char *sp = strchr(pending, ' ');
				const char *val = "";

				if (sp != NULL) {
					*sp = '\0';
					val = sp + 1;
				}
				ok = loader_directive(&ld, pline, pending, val);
				free(pending);
				pending = NULL;
			}
			if (ok && p < e && q < p + n && *q != '#') {
				if (cont) {
					set_cause(cause,
					          "%s:%d: continuation line without a directive",
					          name, lineno);
					ok = false;
				} else {
					plen = n;
					pending = xstrndup(p, n);
					pline = lineno;
				}
			}
		}
		if (p >= e)
			break;
		p = nl ? nl + 1 : e;
	}
	free(pending);
	if (ok)
		ok = loader_finish_rule(&ld);
	else {
		free(ld.match_re);
		free(ld.program_re);
	}
	if (ok && set->mta == MTA_NONE && set->nsigs == 0) {
		set_cause(cause, "%s: no 'mta' line", name);
		ok = false;
	}
	return ok;
}

/* match_data_init - PATS's match data, big enough for max_groups */
static void
match_data_init(struct patterns *pats)
{
	pats->md = pcre2_match_data_create(pats->max_groups, NULL);
	if (pats->md == NULL)
		diag_fatal("out of memory for PCRE2 match data");
}

/* matcher_init - PATS's own JIT stack and match context */
static void
matcher_init(struct patterns *pats)
{
	pats->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	pats->mctx = pcre2_match_context_create(NULL);
	if (pats->jit_stack != NULL && pats->mctx != NULL)
		pcre2_jit_stack_assign(pats->mctx, NULL, pats->jit_stack);
}

static struct patterns *
patterns_new(void)
{
	struct patterns *pats = xcalloc(1, sizeof *pats);

	matcher_init(pats);
	return pats;
}

struct patterns *
patterns_for_thread(const struct patterns *pats)
{
	struct patterns *copy = xcalloc(1, sizeof *copy);

	copy->sets = pats->sets;
	copy->nsets = pats->nsets;
	copy->max_groups = pats->max_groups;
	copy->borrowed = true;
	matcher_init(copy);
	match_data_init(copy);
	return copy;
}

/* byte_commonness - how often a byte occurs in mail logs: the printable
 * bytes from the most frequent in bench/genlog's logs of the three MTAs
 * (space, '0', 'e', '.', ...) to the rarest; bytes not listed are rarer
 * still.  '=' and ',' are as common as letters there, 'j', 'D' and '>' rare:
 * Sendmail's " stat=Deferred: " is looked for by its 'D', not its '='. */
static int
byte_commonness(unsigned char c)
{
	static const char order[] = " 0e.1o2mats:l=rp5in37x6cd4-9,8Sv[]yufAT_g@NC/hbL>E<RMHjkPwIWD()"
	                            "GBOFXqVU\"zKQYJZ\\*;'?|#+";
	const char *p = c != '\0' ? strchr(order, c) : NULL;

	return p != NULL ? 100 - (int)(p - order) : 10;
}

/* literal_pivot - the literal's rarest byte, found first with memchr */
static size_t
literal_pivot(const char *p, size_t n)
{
	size_t best = 0;

	for (size_t i = 1; i < n; i++) {
		if (byte_commonness((unsigned char)p[i]) < byte_commonness((unsigned char)p[best]))
			best = i;
	}
	return best;
}

/* find_literal - memmem for short needles: memchr on the rarest byte, then
 * compare around it (glibc's memmem sets up a two-way search per call) */
static bool
find_literal(struct span hay, const struct literal *l)
{
	const char *p, *e;
	char c;

	if (l->n == 0)
		return true;
	if (hay.n < l->n || hay.p == NULL)
		return false;
	c = l->p[l->pivot];
	p = hay.p + l->pivot;
	e = hay.p + hay.n - (l->n - l->pivot - 1);
	while (p < e) {
		const char *q = memchr(p, c, (size_t)(e - p));

		if (q == NULL)
			return false;
		if (memcmp(q - l->pivot, l->p, l->n) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* literal_index - the index of L in S's literal table, added if new */
static size_t
literal_index(struct pattern_set *s, const struct literal *l)
{
	for (size_t i = 0; i < s->nlits; i++) {
		if (s->lits[i].n == l->n && memcmp(s->lits[i].p, l->p, l->n) == 0)
			return i;
	}
	literal_add(&s->lits, &s->nlits,
	            (struct literal){xstrndup(l->p, l->n), l->n, literal_pivot(l->p, l->n)});
	return s->nlits - 1;
}

/* set_index_literals - share one search per distinct literal and line */
static bool
set_index_literals(struct pattern_set *s, char **cause)
{
	for (size_t j = 0; j < s->nrules; j++) {
		struct rule *r = &s->rules[j];

		r->require_idx = xcalloc(r->nrequire, sizeof *r->require_idx);
		for (size_t k = 0; k < r->nrequire; k++)
			r->require_idx[k] = literal_index(s, &r->require[k]);
	}
	s->candidate_idx = xcalloc(s->ncandidates, sizeof *s->candidate_idx);
	for (size_t k = 0; k < s->ncandidates; k++)
		s->candidate_idx[k] = literal_index(s, &s->candidates[k]);
	if (s->nlits > MAX_LITERALS) {
		set_cause(cause, "%s: more than %d distinct 'require'/'candidate' literals",
		          s->path, MAX_LITERALS);
		return false;
	}
	s->inner = xcalloc(s->nlits, sizeof *s->inner);
	for (size_t i = 0; i < s->nlits; i++) {
		const struct literal *l = &s->lits[i];

		s->inner[i] = SIZE_MAX;
		for (size_t k = 0; k < s->nlits; k++) {
			const struct literal *m = &s->lits[k];

			if (m->n > 0 && m->n < l->n && find_literal((struct span){l->p, l->n}, m) &&
			    (s->inner[i] == SIZE_MAX || m->n > s->lits[s->inner[i]].n))
				s->inner[i] = k;
		}
	}
	return true;
}

/* patterns_ready - allocate one match-data block big enough for every rule */
static void
patterns_ready(struct patterns *pats)
{
	uint32_t max = 1;

	for (size_t i = 0; i < pats->nsets; i++) {
		for (size_t j = 0; j < pats->sets[i].nrules; j++) {
			uint32_t c = 0;

			pcre2_pattern_info(pats->sets[i].rules[j].re, PCRE2_INFO_CAPTURECOUNT, &c);
			if (c + 1 > max)
				max = c + 1;
		}
	}
	pats->max_groups = max;
	match_data_init(pats);
}

static bool
patterns_add_text(struct patterns *pats, const char *name, const char *text, size_t len,
                  char **cause)
{
	struct pattern_set *s;

	pats->sets = xreallocarray(pats->sets, pats->nsets + 1, sizeof *pats->sets);
	s = &pats->sets[pats->nsets++];
	memset(s, 0, sizeof *s);
	s->path = xstrdup(name);
	return load_text(s, name, text, len, cause) && set_index_literals(s, cause);
}

static char *
read_file(const char *path, size_t *len, char **cause)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			if (cap > 16 * 1024 * 1024) {
				set_cause(cause, "%s: larger than 16 MB: not a pattern file", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			cap = cap ? cap * 2 : 16384;
			buf = xreallocarray(buf, cap, 1);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		set_cause(cause, "%s: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool
patterns_add_file(struct patterns *pats, const char *path, char **cause)
{
	size_t len;
	char *text = read_file(path, &len, cause);
	bool ok;

	if (text == NULL)
		return false;
	ok = patterns_add_text(pats, path, text, len, cause);
	free(text);
	return ok;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct patterns *
patterns_load(const char *dir, char **cause)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t nnames = 0;
	struct patterns *pats;
	bool ok = true;

	if (d == NULL) {
		set_cause(cause, "%s: %s (pattern directory; see --patterns)", dir,
		          strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > 4 && strcmp(de->d_name + n - 4, ".pat") == 0) {
			names = xreallocarray(names, nnames + 1, sizeof *names);
			names[nnames++] = xasprintf("%s/%s", dir, de->d_name);
		}
	}
	closedir(d);
	qsort(names, nnames, sizeof *names, cmp_str);
	pats = patterns_new();
	for (size_t i = 0; i < nnames; i++) {
		if (ok)
			ok = patterns_add_file(pats, names[i], cause);
		free(names[i]);
	}
	free(names);
	if (ok && nnames == 0) {
		set_cause(cause, "%s: no *.pat files (pattern directory; see --patterns)", dir);
		ok = false;
	}
	if (!ok) {
		patterns_free(pats);
		return NULL;
	}
	patterns_ready(pats);
	return pats;
}

struct patterns *
patterns_load_file(const char *path, char **cause)
{
	struct patterns *pats = patterns_new();

	if (!patterns_add_file(pats, path, cause)) {
		patterns_free(pats);
		return NULL;
	}
	patterns_ready(pats);
	return pats;
}

struct patterns *
patterns_load_text(const char *name, const char *text, size_t len, char **cause)
{
	struct patterns *pats = patterns_new();

	if (!patterns_add_text(pats, name, text, len, cause)) {
		patterns_free(pats);
		return NULL;
	}
	patterns_ready(pats);
	return pats;
}

static bool
has_prefix(struct span s, const struct literal *l)
{
	return s.n >= l->n && memcmp(s.p, l->p, l->n) == 0;
}

/* set_covers - is PROGRAM one of the set's programs (or the line's MTA)? */
static bool
set_covers(const struct pattern_set *s, enum mta mta, struct span program)
{
	if (s->mta != mta)
		return false;
	if (s->nprograms == 0)
		return true;
	for (size_t i = 0; i < s->nprograms; i++) {
		if (has_prefix(program, &s->programs[i]))
			return true;
	}
	return false;
}

static int
run_re(struct patterns *pats, const pcre2_code *re, bool jit, struct span s)
{
	if (jit)
		return pcre2_jit_match(re, (PCRE2_SPTR)s.p, s.n, 0, 0, pats->md, pats->mctx);
	return pcre2_match(re, (PCRE2_SPTR)s.p, s.n, 0, 0, pats->md, pats->mctx);
}

/* has_literal - does MSG contain literal I of S?  MEMO caches per line.
 * The literal inside it is searched first (Exim's "rejected " before
 * "rejected RCPT " and three more; Postfix's " status=" before
 * ", status=expired"): most lines have neither.  Literal searches on
 * 10 MB of Exim: 73.7 -> 40.0 M instructions; Postfix -3 M. */
static bool
has_literal(const struct pattern_set *s, size_t i, struct span msg, signed char *memo)
{
	if (memo[i] < 0)
		memo[i] = (s->inner[i] == SIZE_MAX || has_literal(s, s->inner[i], msg, memo)) &&
		          find_literal(msg, &s->lits[i]);
	return memo[i] != 0;
}

static bool
set_is_candidate(const struct pattern_set *s, struct span msg, signed char *memo)
{
	for (size_t k = 0; k < s->ncandidates; k++) {
		if (has_literal(s, s->candidate_idx[k], msg, memo))
			return true;
	}
	return false;
}

/* requires_met - does MSG hold a literal of each of R's require groups? */
static bool
requires_met(const struct pattern_set *s, const struct rule *r, struct span msg, signed char *memo)
{
	size_t k = 0;

	while (k < r->nrequire) {
		size_t g = r->require_group[k];
		bool found = false;

		for (; k < r->nrequire && r->require_group[k] == g; k++) {
			if (!found && has_literal(s, r->require_idx[k], msg, memo))
				found = true;
		}
		if (!found)
			return false;
	}
	return true;
}

bool
patterns_match(struct patterns *pats, enum mta mta, struct span program, struct span msg,
               struct match *m)
{
	signed char memo[MAX_LITERALS];

	m->candidate = false;
	for (size_t i = 0; i < pats->nsets; i++) {
		struct pattern_set *s = &pats->sets[i];

		if (!set_covers(s, mta, program))
			continue;
		memset(memo, -1, s->nlits);
		for (size_t j = 0; j < s->nrules; j++) {
			struct rule *r = &s->rules[j];
			PCRE2_SIZE *ov;
			int rc;

			if (!requires_met(s, r, msg, memo))
				continue;
			if (r->jit_pending)
				rule_jit(r);
			if (r->program_re != NULL &&
			    run_re(pats, r->program_re, r->program_jit, program) < 0)
				continue;
			rc = run_re(pats, r->re, r->jit, msg);
			if (rc < 0)
				continue;
			ov = pcre2_get_ovector_pointer(pats->md);
			m->rule = r;
			for (enum field f = 0; f < FIELD_COUNT; f++) {
				uint32_t g = r->group[f];

				if (g == 0 || (int)g >= rc || ov[2 * g] == PCRE2_UNSET)
					m->field[f] = SPAN_NONE;
				else
					m->field[f] = (struct span){msg.p + ov[2 * g],
					                            ov[2 * g + 1] - ov[2 * g]};
			}
			m->candidate = set_is_candidate(s, msg, memo);
			return true;
		}
		if (set_is_candidate(s, msg, memo))
			m->candidate = true;
	}
	return false;
}

bool
patterns_is_candidate(const struct patterns *pats, enum mta mta, struct span msg)
{
	signed char memo[MAX_LITERALS];

	for (size_t i = 0; i < pats->nsets; i++) {
		const struct pattern_set *s = &pats->sets[i];

		if (s->mta != mta)
			continue;
		memset(memo, -1, s->nlits);
		if (set_is_candidate(s, msg, memo))
			return true;
	}
	return false;
}

const char *
patterns_rule_name(const struct rule *rule)
{
	return rule->name;
}

enum status
patterns_rule_status(const struct rule *rule)
{
	return rule->status;
}

int
patterns_rule_class(const struct rule *rule)
{
	return rule->class_code;
}

size_t
patterns_count_rules(const struct patterns *pats, enum mta mta)
{
	size_t n = 0;

	for (size_t i = 0; i < pats->nsets; i++) {
		if (mta == MTA_NONE || pats->sets[i].mta == mta)
			n += pats->sets[i].nrules;
	}
	return n;
}

const char *
patterns_signature(struct patterns *pats, const char *set, const char *text, size_t len)
{
	for (size_t i = 0; i < pats->nsets; i++) {
		const struct pattern_set *s = &pats->sets[i];

		for (size_t k = 0; k < s->nsigs; k++) {
			const struct signature *sig = &s->sigs[k];

			/* the first byte tells the four sets apart: no strcmp for
			 * the other sets' signatures (10 M instructions a 10 MB of
			 * bounce-heavy Postfix) */
			if (sig->set[0] == set[0] && strcmp(sig->set, set) == 0 &&
			    run_re(pats, sig->re, sig->jit, (struct span){text, len}) >= 0)
				return sig->name;
		}
	}
	return NULL;
}

size_t
patterns_count_signatures(const struct patterns *pats, const char *set)
{
	size_t n = 0;

	for (size_t i = 0; i < pats->nsets; i++) {
		for (size_t k = 0; k < pats->sets[i].nsigs; k++)
			n += strcmp(pats->sets[i].sigs[k].set, set) == 0;
	}
	return n;
}
