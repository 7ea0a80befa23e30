/*
 * textout.c - text for a terminal: clipping to a width and word-wrapping,
 * with control bytes shown as '?' so log text cannot drive the terminal.
 * Used by the text report and by explain/codes.
 */
#include "config.h"

#include "textout.h"

#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* text_clipped - write S in W columns (right-aligned or, with PAD, padded),
 * cut with '~' when longer; control bytes are written as '?' */
void
text_clipped(FILE *out, const char *s, int w, bool right, bool pad)
{
	int n = 0;
	const char *p;

	if (s == NULL)
		s = "-";
	for (p = s; *p != '\0' && n < w; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80)
			n++;
	}
	if (*p != '\0' && w > 0) {
		/* too long: w-1 characters and an ellipsis marker */
		int k = 0;

		for (p = s; *p != '\0'; p++) {
			if (((unsigned char)*p & 0xc0) != 0x80) {
				if (k == w - 1)
					break;
				k++;
			}
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
		}
		fputc('~', out);
		return;
	}
	if (right)
		fprintf(out, "%*s", w - n, "");
	for (p = s; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
	if (!right && pad)
		fprintf(out, "%*s", w - n, "");
}

/* text_wrapped - S in lines of at most WIDTH columns, the first prefixed with
 * FIRST, the others indented as deep; at most MAX_LINES lines, then '~' */
void
text_wrapped(FILE *out, const char *first, const char *s, const char *tail, int width,
             int max_lines)
{
	int indent = (int)strlen(first), room = width - indent, line = 0;
	char *all = xasprintf("%s%s", s, tail); /* the tail wraps with the text */
	const char *p = all;

	fputs(first, out);
	while (*p != '\0') {
		const char *end = p, *brk = NULL;
		int cols = 0;

		while (*end != '\0' && cols < room) {
			if (*end == ' ')
				brk = end;
			if (((unsigned char)*end & 0xc0) != 0x80)
				cols++;
			end++;
		}
		if (*end != '\0' && brk != NULL && brk > p)
			end = brk;
		while (end > p + 1 && end[-1] == ' ')
			end--;
		if (++line == max_lines && *end != '\0') {
			text_clipped(out, p, room, false, false);
			break;
		}
		for (const char *c = p; c < end; c++)
			fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, out);
		p = end;
		while (*p == ' ')
			p++;
		if (*p != '\0')
			fprintf(out, "\n%*s", indent, "");
	}
	fputc('\n', out);
	free(all);
}
