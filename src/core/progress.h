/* progress.h: the progress bar's (or timestamped lines') state, for library loops that draw one
 * (label runs, downloads, data set builds). The public API only sees it through
 * gl_progress_new/_free. */
#ifndef GEOLABEL_PROGRESS_H
#define GEOLABEL_PROGRESS_H

#include "geolabel.h"

/* Shown only when the log level is above quiet: a bar when stderr is a terminal, else
 * timestamped lines (gl_progress_configure's interval). */
struct gl_progress {
    const char *what; /* "tiles", "images", ... (borrowed) */
    long total;       /* 0 when unknown */
    long done;
    double start_s, last_draw_s;
    int enabled;
    int tty;   /* stderr is a terminal: the bar */
    int lines; /* timestamped lines written so far (off a terminal) */
};

/* A progress line held by value: begin, add, end (which ends the line); nothing to free. */
void gl_progress_begin(gl_progress *p, const char *what, long total);
void gl_progress_end(gl_progress *p);

#endif
