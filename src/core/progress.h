/* progress.h: the terminal progress line's state, for library loops that draw one (label runs,
 * downloads, data set builds). The public API only sees it through gl_progress_new/_free. */
#ifndef GEOLABEL_PROGRESS_H
#define GEOLABEL_PROGRESS_H

#include "geolabel.h"

/* Drawn only when stderr is a terminal and the log level is above quiet. */
struct gl_progress {
    const char *what; /* "tiles", "images", ... (borrowed) */
    long total;       /* 0 when unknown */
    long done;
    double start_s, last_draw_s;
    int enabled;
};

/* A progress line held by value: begin, add, end (which ends the line); nothing to free. */
void gl_progress_begin(gl_progress *p, const char *what, long total);
void gl_progress_end(gl_progress *p);

#endif
