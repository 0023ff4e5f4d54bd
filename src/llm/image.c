/* image.c: a patch as the vision model receives it: an 8-bit RGB PNG (cairo's encoder) in a base64
 * data URL, the form the OpenAI reference gives for image_url content parts. */
#include "llm/llm.h"

#include "core/buf.h"

#include <cairo.h>
#include <stdlib.h>
#include <string.h>

/* cairo's PNG writer's sink; cairo hands its failure back as the stream's status. */
static cairo_status_t to_memory(void *closure, const unsigned char *data, unsigned int len) {
    return gl_buf_append(closure, data, len) ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

char *gl_llm_png_data_url(const unsigned char *rgb, int w, int h, gl_error *err) {
    if (w < 1 || h < 1 || w > 1 << 15 || h > 1 << 15) {
        gl_fail(err, GL_ERR_ARG, "llm: cannot encode a %dx%d patch", w, h);
        return NULL;
    }
    /* RGB24 is what cairo writes as a colour PNG without alpha. */
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        gl_fail(err, GL_ERR_NOMEM, "llm: out of memory for a %dx%d patch", w, h);
        return NULL;
    }
    cairo_surface_flush(s);
    unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(px + (size_t)y * stride);
        for (int x = 0; x < w; x++) {
            const unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            row[x] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        }
    }
    cairo_surface_mark_dirty(s);
    gl_buf b = {0};
    cairo_status_t cs = cairo_surface_write_to_png_stream(s, to_memory, &b);
    cairo_surface_destroy(s);
    char *b64 = cs == CAIRO_STATUS_SUCCESS ? gl_base64_encode(b.data, b.len) : NULL;
    free(b.data);
    static const char prefix[] = "data:image/png;base64,";
    char *url = b64 ? malloc(sizeof prefix + strlen(b64)) : NULL;
    if (url) {
        memcpy(url, prefix, sizeof prefix - 1);
        strcpy(url + sizeof prefix - 1, b64);
    } else {
        gl_fail(err, GL_ERR_NOMEM, "llm: cannot encode a %dx%d patch as PNG", w, h);
    }
    free(b64);
    return url;
}
