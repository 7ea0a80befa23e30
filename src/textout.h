/*
 * textout.h - text for a terminal: clipping and word-wrapping to a width.
 */
#ifndef SMTPLOG_TEXTOUT_H
#define SMTPLOG_TEXTOUT_H

#include <stdbool.h>
#include <stdio.h>

/* text_clipped - S in W columns (right-aligned, or padded with PAD), cut
 * with '~' when longer; control bytes written as '?' */
void text_clipped(FILE *out, const char *s, int w, bool right, bool pad);

/* text_wrapped - FIRST, then S followed by TAIL, wrapped at WIDTH columns
 * with continuation lines indented as deep as FIRST; at most MAX_LINES
 * lines (the last one cut with '~') */
void text_wrapped(FILE *out, const char *first, const char *s, const char *tail, int width,
                  int max_lines);

#endif
