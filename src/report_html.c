/*
 * report_html.c - one self-contained HTML page: inline CSS and SVG charts,
 * no script, nothing fetched, so it works offline and as a mail attachment.
 * Every piece of log text goes through html_text(), which escapes markup
 * characters and replaces control bytes and invalid UTF-8.
 */
#include "config.h"

#include "report_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_colour[] = {
    /* deferred, bounced, expired, rejected */
    "#e6a23c",
    "#d9534f",
    "#8e44ad",
    "#5b7db1",
};

/* html_text - S escaped for element content and attribute values */
static void
html_text(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		fputs("&ndash;", out);
		return;
	}
	while (*p != '\0') {
		unsigned char c = *p;

		switch (c) {
		case '&':
			fputs("&amp;", out);
			p++;
			continue;
		case '<':
			fputs("&lt;", out);
			p++;
			continue;
		case '>':
			fputs("&gt;", out);
			p++;
			continue;
		case '"':
			fputs("&quot;", out);
			p++;
			continue;
		case '\'':
			fputs("&#39;", out);
			p++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			fputs("&#xfffd;", out);
			p++;
		} else if (c < 0x80) {
			fputc(c, out);
			p++;
		} else
			p = report_put_utf8(out, p, "&#xfffd;");
	}
}

static long long
cell_int(const struct table *t, size_t row, size_t col)
{
	const char *s = t->cells[row * t->ncols + col].text;

	return s ? atoll(s) : 0;
}

static long
col_index(const struct table *t, const char *name)
{
	for (size_t c = 0; c < t->ncols; c++) {
		if (strcmp(t->cols[c], name) == 0)
			return (long)c;
	}
	return -1;
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1f2933;background:#f5f7fa}"
    "header{background:#243b53;color:#fff;padding:18px 28px}"
    "header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#bcccdc}"
    "main{padding:8px 28px 40px;max-width:1200px}"
    "section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.1);"
    "margin:18px 0;padding:14px 18px}"
    "h2{font-size:17px;margin:0 0 6px}p.note{color:#52606d;margin:0 0 10px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{flex:1 1 140px;background:#fff;border-radius:8px;padding:12px 16px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.1)}"
    ".card b{display:block;font-size:24px}.card span{color:#52606d}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}"
    "th{background:#f0f4f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.sub{color:#52606d;font-size:12px;border-bottom:1px solid #e4e7eb;padding-top:0}"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    ".legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:11px;height:11px;margin-right:4px;border-radius:2px}"
    "svg text{font:11px system-ui,sans-serif;fill:#334e68}";

static void
html_section_start(FILE *out, const char *title, const char *note)
{
	fputs("<section><h2>", out);
	html_text(out, title);
	fputs("</h2>\n", out);
	if (note != NULL) {
		fputs("<p class=\"note\">", out);
		html_text(out, note);
		fputs("</p>\n", out);
	}
}

/* html_table - a section's rows; example, hint and meaning on a sub-row */
static void
html_table(FILE *out, const struct table *t)
{
	static const char *const subs[] = {"meaning", "example", "hint"};
	static const char *const sub_label[] = {"", "e.g. ", "fix: "};
	size_t shown = 0;

	if (t->nrows == 0) {
		fputs("<p>none</p>\n", out);
		return;
	}
	fputs("<table><thead><tr>", out);
	for (size_t c = 0; c < t->ncols; c++) {
		bool sub = false;

		for (size_t k = 0; k < 3; k++)
			sub |= strcmp(t->cols[c], subs[k]) == 0;
		if (sub)
			continue;
		fputs("<th>", out);
		html_text(out, t->cols[c]);
		fputs("</th>", out);
		shown++;
	}
	fputs("</tr></thead><tbody>\n", out);
	for (size_t r = 0; r < t->nrows; r++) {
		fputs("<tr>", out);
		for (size_t c = 0; c < t->ncols; c++) {
			const struct cell *cl = &t->cells[r * t->ncols + c];
			bool sub = false;

			for (size_t k = 0; k < 3; k++)
				sub |= strcmp(t->cols[c], subs[k]) == 0;
			if (sub)
				continue;
			fputs(cl->integer ? "<td class=\"n\">" : "<td>", out);
			html_text(out, cl->text);
			fputs("</td>", out);
		}
		fputs("</tr>\n", out);
		for (size_t k = 0; k < 3; k++) {
			long c = col_index(t, subs[k]);

			if (c < 0 || t->cells[r * t->ncols + (size_t)c].text == NULL)
				continue;
			fprintf(out, "<tr><td class=\"sub\" colspan=\"%zu\">%s<code>", shown,
			        sub_label[k]);
			html_text(out, t->cells[r * t->ncols + (size_t)c].text);
			fputs("</code></td></tr>\n", out);
		}
	}
	fputs("</tbody></table>\n", out);
}

/* chart_time - failures over time, stacked by status */
static void
chart_time(FILE *out, const struct table *t)
{
	static const char *const cols[] = {"deferred", "bounced", "expired", "rejected"};
	long idx[4];
	long long max = 1;
	const int w = 1100, h = 220, left = 50, bottom = 40;
	double bw;

	if (t == NULL || t->nrows == 0)
		return;
	for (int k = 0; k < 4; k++)
		idx[k] = col_index(t, cols[k]);
	for (size_t r = 0; r < t->nrows; r++) {
		long long sum = 0;

		for (int k = 0; k < 4; k++)
			sum += idx[k] >= 0 ? cell_int(t, r, (size_t)idx[k]) : 0;
		if (sum > max)
			max = sum;
	}
	bw = (double)(w - left - 10) / (double)t->nrows;
	fprintf(out,
	        "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
	        "aria-label=\"failures over time\">\n",
	        w, h);
	fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9fb3c8\"/>\n", left,
	        h - bottom, w - 10, h - bottom);
	fprintf(out, "<text x=\"%d\" y=\"14\" text-anchor=\"end\">%lld</text>\n", left - 6, max);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", left - 6,
	        h - bottom);
	for (size_t r = 0; r < t->nrows; r++) {
		double y = h - bottom;
		double x = left + bw * (double)r;

		for (int k = 0; k < 4; k++) {
			long long v = idx[k] >= 0 ? cell_int(t, r, (size_t)idx[k]) : 0;
			double bh = (double)v * (h - bottom - 10) / (double)max;

			if (v == 0)
				continue;
			y -= bh;
			fprintf(out,
			        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			        "fill=\"%s\"><title>",
			        x + 1, y, bw > 3 ? bw - 2 : bw, bh, status_colour[k]);
			html_text(out, t->cells[r * t->ncols].text);
			fprintf(out, ": %lld %s</title></rect>\n", v, cols[k]);
		}
		if (t->nrows <= 24 || r % (t->nrows / 12 + 1) == 0) {
			fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
			        x + bw / 2, h - bottom + 14);
			html_text(out, t->cells[r * t->ncols].text +
			                   (strlen(t->cells[r * t->ncols].text) > 11 ? 11 : 5));
			fputs("</text>\n", out);
		}
	}
	fputs("</svg>\n<p class=\"legend\">", out);
	for (int k = 0; k < 4; k++)
		fprintf(out, "<span><i style=\"background:%s\"></i>%s</span>", status_colour[k],
		        cols[k]);
	fputs("</p>\n", out);
}

/* chart_bars - horizontal bars of a cause table's "events" column */
static void
chart_bars(FILE *out, const struct table *t, const char *colour)
{
	long ev = col_index(t, "events"), reason = col_index(t, "reason");
	long enh = col_index(t, "enhanced_code"), reply = col_index(t, "reply_code");
	long long max = 1;
	size_t n = t->nrows < 10 ? t->nrows : 10;
	const int w = 1100, row = 22, label = 520;

	if (ev < 0 || n == 0)
		return;
	for (size_t r = 0; r < n; r++) {
		if (cell_int(t, r, (size_t)ev) > max)
			max = cell_int(t, r, (size_t)ev);
	}
	fprintf(out, "<svg viewBox=\"0 0 %d %zu\" width=\"100%%\" role=\"img\">\n", w, n * row + 4);
	for (size_t r = 0; r < n; r++) {
		long long v = cell_int(t, r, (size_t)ev);
		double bw = (double)v * (w - label - 60) / (double)max;
		const char *rs = reason >= 0 ? t->cells[r * t->ncols + (size_t)reason].text : NULL;
		char lab[96];

		snprintf(lab, sizeof lab, "%s %s ",
		         reply >= 0 && t->cells[r * t->ncols + (size_t)reply].text
		             ? t->cells[r * t->ncols + (size_t)reply].text
		             : "",
		         enh >= 0 && t->cells[r * t->ncols + (size_t)enh].text
		             ? t->cells[r * t->ncols + (size_t)enh].text
		             : "");
		fprintf(out, "<text x=\"0\" y=\"%zu\">", r * row + 15);
		html_text(out, lab);
		if (rs != NULL) {
			char cut[72];

			snprintf(cut, sizeof cut, "%s", rs);
			/* do not end inside a UTF-8 sequence */
			for (size_t k = strlen(cut);
			     k > 0 && ((unsigned char)cut[k - 1] & 0xc0) == 0x80;)
				cut[--k] = '\0';
			if (strlen(cut) > 0 && ((unsigned char)cut[strlen(cut) - 1] & 0x80))
				cut[strlen(cut) - 1] = '\0';
			html_text(out, cut);
			if (strlen(rs) > strlen(cut))
				fputs("&hellip;", out);
		}
		fprintf(out,
		        "</text><rect x=\"%d\" y=\"%zu\" width=\"%.1f\" height=\"%d\" "
		        "fill=\"%s\" rx=\"2\"/><text x=\"%.1f\" y=\"%zu\">%lld</text>\n",
		        label, r * row + 4, bw, row - 6, colour, label + bw + 6, r * row + 15, v);
	}
	fputs("</svg>\n", out);
}

/* chart_heatmap - class x subject grid */
static void
chart_heatmap(FILE *out, const struct table *t)
{
	long long max = 1;
	const int cell = 90, top = 24, left = 70;

	if (t == NULL || t->nrows == 0)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 1; c <= 8 && c < t->ncols; c++) {
			if (cell_int(t, r, c) > max)
				max = cell_int(t, r, c);
		}
	}
	fprintf(out,
	        "<svg viewBox=\"0 0 %d %zu\" width=\"%d\" role=\"img\" "
	        "aria-label=\"class by subject\">\n",
	        left + 8 * cell, top + t->nrows * 40 + 4, left + 8 * cell);
	for (size_t c = 1; c <= 8 && c < t->ncols; c++) {
		fprintf(out, "<text x=\"%zu\" y=\"16\" text-anchor=\"middle\">",
		        left + (c - 1) * cell + cell / 2);
		html_text(out, t->cols[c]);
		fputs("</text>\n", out);
	}
	for (size_t r = 0; r < t->nrows; r++) {
		fprintf(out, "<text x=\"0\" y=\"%zu\">class ", top + r * 40 + 25);
		html_text(out, t->cells[r * t->ncols].text);
		fputs("</text>\n", out);
		for (size_t c = 1; c <= 8 && c < t->ncols; c++) {
			long long v = cell_int(t, r, c);
			double a = v == 0 ? 0.04 : 0.15 + 0.85 * (double)v / (double)max;

			fprintf(out,
			        "<rect x=\"%zu\" y=\"%zu\" width=\"%d\" height=\"36\" rx=\"3\" "
			        "fill=\"%s\" fill-opacity=\"%.2f\"/><text x=\"%zu\" y=\"%zu\" "
			        "text-anchor=\"middle\">%lld</text>\n",
			        left + (c - 1) * cell, top + r * 40, cell - 4,
			        t->cells[r * t->ncols].text && t->cells[r * t->ncols].text[0] == '4'
			            ? status_colour[0]
			            : status_colour[1],
			        a, left + (c - 1) * cell + cell / 2 - 2, top + r * 40 + 23, v);
		}
	}
	fputs("</svg>\n", out);
}

static void
card(FILE *out, long long v, const char *label)
{
	fprintf(out, "<div class=\"card\"><b>%lld</b><span>%s</span></div>\n", v, label);
}

void
report_render_html(const struct report *r, FILE *out)
{
	const struct table *t;
	long long lines = 0, matched = 0;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	      "<title>smtplog-report</title>\n<style>",
	      out);
	fputs(css, out);
	fputs("</style></head><body>\n<header><h1>Why mail failed</h1><p>", out);
	html_text(out, PACKAGE_NAME " " PACKAGE_VERSION);
	fputs(" &middot; ", out);
	html_text(out, r->first_ts);
	fputs(" &ndash; ", out);
	html_text(out, r->last_ts);
	fputs(" &middot; database ", out);
	html_text(out, r->scope->db_path);
	fputs("</p></header>\n<main>\n", out);
	for (size_t i = 0; i < r->nsources; i++) {
		lines += r->sources[i].lines;
		matched += r->sources[i].matched;
	}
	fputs("<div class=\"cards\">\n", out);
	card(out, r->by_status[ST_SENT], "sent");
	card(out, r->by_status[ST_DEFERRED], "deferred");
	card(out, r->by_status[ST_BOUNCED], "bounced");
	card(out, r->by_status[ST_EXPIRED], "expired");
	card(out, r->by_status[ST_REJECTED], "rejected at SMTP time");
	card(out, lines, "lines read");
	fputs("</div>\n", out);
	html_section_start(out, "Files", NULL);
	fputs("<table><thead><tr><th>file</th><th>lines</th><th>outcome lines</th>"
	      "<th>unmatched outcome-like</th><th>not log lines</th></tr></thead><tbody>\n",
	      out);
	for (size_t i = 0; i < r->nsources; i++) {
		const struct summary_source *s = &r->sources[i];

		fputs("<tr><td>", out);
		html_text(out, s->path);
		fprintf(out,
		        "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
		        "<td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n",
		        (long long)s->lines, (long long)s->matched, (long long)s->candidates,
		        (long long)s->unparsed);
	}
	fputs("</tbody></table></section>\n", out);
	t = report_table(r, "failures_by_time");
	if (t != NULL) {
		html_section_start(out, t->title,
		                   "deferrals, bounces, expiries and rejections, stacked");
		chart_time(out, t);
		fputs("</section>\n", out);
	}
	for (size_t i = 0; i < r->ntables; i++) {
		t = &r->tables[i];
		if (strcmp(t->id, "failures_by_time") == 0)
			continue;
		html_section_start(out, t->title, t->note);
		if (strcmp(t->id, "bounces") == 0)
			chart_bars(out, t, status_colour[1]);
		else if (strcmp(t->id, "deferrals") == 0)
			chart_bars(out, t, status_colour[0]);
		else if (strcmp(t->id, "rejections") == 0)
			chart_bars(out, t, status_colour[3]);
		else if (strcmp(t->id, "class_subject") == 0)
			chart_heatmap(out, t);
		html_table(out, t);
		fputs("</section>\n", out);
	}
	fprintf(out,
	        "<p class=\"note\">%lld lines read, %lld outcome lines. Explain any code "
	        "with <code>smtplog-report explain CODE</code>.</p>\n</main></body></html>\n",
	        lines, matched);
}
