/* qml.c: the QGIS layer style written beside GeoJSON and GPKG label outputs: polygons categorised
 * by their "classification" in the same stable colours as `show` and the GeoTIFF. */
#include "label/geotiff.h"

#include <stdlib.h>
#include <string.h>

static void xml_text(FILE *fp, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&apos;", fp);
            break;
        default:
            fputc(*s, fp);
        }
    }
}

/* One fill symbol; QGIS 3 reads the Option map, older versions the prop list. */
static void symbol(FILE *fp, int i, unsigned rgb) {
    char c[32];
    snprintf(c, sizeof c, "%u,%u,%u,255", rgb >> 16 & 255, rgb >> 8 & 255, rgb & 255);
    fprintf(fp,
            "      <symbol type=\"fill\" name=\"%d\" alpha=\"0.6\" clip_to_extent=\"1\" "
            "force_rhr=\"0\">\n"
            "        <layer class=\"SimpleFill\" enabled=\"1\" locked=\"0\" pass=\"0\">\n"
            "          <Option type=\"Map\">\n"
            "            <Option name=\"color\" type=\"QString\" value=\"%s\"/>\n"
            "            <Option name=\"outline_color\" type=\"QString\" value=\"35,35,35,255\"/>\n"
            "            <Option name=\"outline_width\" type=\"QString\" value=\"0.26\"/>\n"
            "            <Option name=\"style\" type=\"QString\" value=\"solid\"/>\n"
            "          </Option>\n"
            "          <prop k=\"color\" v=\"%s\"/>\n"
            "          <prop k=\"outline_color\" v=\"35,35,35,255\"/>\n"
            "          <prop k=\"style\" v=\"solid\"/>\n"
            "        </layer>\n"
            "      </symbol>\n",
            i, c, c);
}

gl_status gl_qml_write(const char *vector_path, const char *const *names, int n,
                       const gl_colors *colors, gl_error *err) {
    const char *dot = strrchr(vector_path, '.'), *slash = strrchr(vector_path, '/');
    size_t stem =
        dot && (!slash || dot > slash) ? (size_t)(dot - vector_path) : strlen(vector_path);
    char *path = malloc(stem + 5);
    if (!path) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", vector_path);
    memcpy(path, vector_path, stem);
    strcpy(path + stem, ".qml");
    gl_atomic_file f;
    gl_status st = gl_atomic_open(&f, path, err);
    free(path);
    if (st) return st;
    fputs("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
          "<qgis version=\"3.28.0\" styleCategories=\"Symbology\">\n"
          "  <renderer-v2 type=\"categorizedSymbol\" attr=\"classification\" symbollevels=\"0\" "
          "enableorderby=\"0\" forceraster=\"0\">\n"
          "    <categories>\n",
          f.fp);
    for (int i = 0; i <= n; i++) {
        const char *name = i < n ? names[i] : "nodata";
        fprintf(f.fp, "      <category symbol=\"%d\" render=\"true\" value=\"", i);
        xml_text(f.fp, name);
        fputs("\" label=\"", f.fp);
        xml_text(f.fp, name);
        fputs("\"/>\n", f.fp);
    }
    fputs("    </categories>\n    <symbols>\n", f.fp);
    for (int i = 0; i <= n; i++)
        symbol(f.fp, i, gl_color_of(colors, i < n ? names[i] : "nodata"));
    fputs("    </symbols>\n  </renderer-v2>\n</qgis>\n", f.fp);
    return gl_atomic_commit(&f, err);
}
