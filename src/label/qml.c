/* qml.c: the QGIS layer style of GeoJSON and GPKG label outputs (a .qml beside the file, and in a
 * GPKG every tile layer's row of layer_styles): polygons categorised by "classification". */
#include "label/geotiff.h"
#include "label/rows.h"

#include <cpl_error.h>
#include <ogr_api.h>

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

/* The style document, into fp. */
static void qml_put(FILE *fp, const char *const *names, int n, const gl_colors *colors) {
    fputs("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
          "<qgis version=\"3.28.0\" styleCategories=\"Symbology\">\n"
          "  <renderer-v2 type=\"categorizedSymbol\" attr=\"classification\" symbollevels=\"0\" "
          "enableorderby=\"0\" forceraster=\"0\">\n"
          "    <categories>\n",
          fp);
    for (int i = 0; i <= n; i++) {
        const char *name = i < n ? names[i] : "nodata";
        fprintf(fp, "      <category symbol=\"%d\" render=\"true\" value=\"", i);
        xml_text(fp, name);
        fputs("\" label=\"", fp);
        xml_text(fp, name);
        fputs("\"/>\n", fp);
    }
    fputs("    </categories>\n    <symbols>\n", fp);
    for (int i = 0; i <= n; i++)
        symbol(fp, i, gl_color_of(colors, i < n ? names[i] : "nodata"));
    fputs("    </symbols>\n  </renderer-v2>\n</qgis>\n", fp);
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
    qml_put(f.fp, names, n, colors);
    return gl_atomic_commit(&f, err);
}

/* QGIS's own table for styles kept inside a GeoPackage (its OGR provider creates and reads it:
 * the row whose f_table_name and f_geometry_column are the layer's, useAsDefault first). QGIS
 * loads it before any .qml, and a .qml beside the file can only style one of its layers. */
static OGRLayerH styles_table(GDALDatasetH ds, const char *path, gl_error *err) {
    OGRLayerH t = GDALDatasetGetLayerByName(ds, GL_QML_STYLES_TABLE);
    if (t) return t;
    t = GDALDatasetCreateLayer(ds, GL_QML_STYLES_TABLE, NULL, wkbNone, NULL);
    static const struct {
        const char *name;
        OGRFieldType type;
    } cols[] = {{"f_table_catalog", OFTString},
                {"f_table_schema", OFTString},
                {"f_table_name", OFTString},
                {"f_geometry_column", OFTString},
                {"styleName", OFTString},
                {"styleQML", OFTString},
                {"styleSLD", OFTString},
                {"useAsDefault", OFTInteger},
                {"description", OFTString},
                {"owner", OFTString},
                {"ui", OFTString},
                {"update_time", OFTDateTime}};
    for (size_t k = 0; t && k < sizeof cols / sizeof *cols; k++) {
        OGRFieldDefnH fd = OGR_Fld_Create(cols[k].name, cols[k].type);
        if (cols[k].type == OFTInteger) OGR_Fld_SetSubType(fd, OFSTBoolean);
        if (cols[k].type == OFTDateTime) OGR_Fld_SetDefault(fd, "CURRENT_TIMESTAMP");
        if (OGR_L_CreateField(t, fd, TRUE) != OGRERR_NONE) t = NULL;
        OGR_Fld_Destroy(fd);
    }
    if (!t)
        gl_fail(err, GL_ERR_IO, "%s: cannot create %s: %s", path, GL_QML_STYLES_TABLE,
                CPLGetLastErrorMsg());
    return t;
}

gl_status gl_qml_gpkg_styles(GDALDatasetH ds, const char *path, const char *const *names, int n,
                             const gl_colors *colors, gl_error *err) {
    char *qml = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&qml, &len);
    if (!mem) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    qml_put(mem, names, n, colors);
    if (fclose(mem) != 0 || !qml) {
        free(qml);
        return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", path);
    }
    /* The tile layers first: the styles table is created after them and is no tile layer. */
    int n_layers = GDALDatasetGetLayerCount(ds);
    gl_status st = GL_OK;
    OGRLayerH t = NULL;
    for (int i = 0; !st && i < n_layers; i++) {
        OGRLayerH l = GDALDatasetGetLayer(ds, i);
        if (!label_rows_is_tile_layer(l)) continue;
        if (!t && !(t = styles_table(ds, path, err))) {
            st = err->code;
            break;
        }
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(t));
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "f_table_catalog"), "");
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "f_table_schema"), "");
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "f_table_name"), OGR_L_GetName(l));
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "f_geometry_column"),
                             OGR_L_GetGeometryColumn(l));
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "styleName"), OGR_L_GetName(l));
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "styleQML"), qml);
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "styleSLD"), "");
        OGR_F_SetFieldInteger(f, OGR_F_GetFieldIndex(f, "useAsDefault"), 1);
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "description"),
                             "geolabel: classes in their colours");
        OGR_F_SetFieldString(f, OGR_F_GetFieldIndex(f, "owner"), "");
        if (OGR_L_CreateFeature(t, f) != OGRERR_NONE)
            st = gl_fail(err, GL_ERR_IO, "%s: cannot write the style of layer %s: %s", path,
                         OGR_L_GetName(l), CPLGetLastErrorMsg());
        OGR_F_Destroy(f);
    }
    free(qml);
    return st;
}
