/* geotiff.h: the classified GeoTIFF writer behind `label -o labels.tif` (geotiff.c) and the QGIS
 * style written beside vector outputs (qml.c). */
#ifndef GEOLABEL_LABEL_GEOTIFF_H
#define GEOLABEL_LABEL_GEOTIFF_H

#include "label/label.h"

#include <gdal.h>

/* Rows arrive scene by scene (each carrying its grid). A single scene becomes OUT; several become
 * OUT's stem + "." + each scene's stem + ".tif". Pixel values: 0 nodata, k + 1 for class k of the
 * list given to gl_tif_writer_classes. Everything is written to temporary files and renamed into
 * place by commit; abort removes them. */
typedef struct gl_tif_writer gl_tif_writer;
gl_tif_writer *gl_tif_writer_open(const char *path, const gl_tiling *tiling, double raster_res,
                                  int probabilities, gl_error *err);
/* names: the leaves (labels a row may carry), in the order of the raster's values. */
gl_status gl_tif_writer_classes(gl_tif_writer *w, const char *const *names, int n,
                                const gl_colors *colors, int hierarchical, gl_error *err);
gl_status gl_tif_writer_add(gl_tif_writer *w, const gl_label_row *row, gl_error *err);
gl_status gl_tif_writer_commit(gl_tif_writer *w, gl_error *err);
void gl_tif_writer_abort(gl_tif_writer *w);

/* A QGIS style (categorised on "classification", the classes' colours) for the vector output at
 * path: written to path's stem + ".qml", where QGIS finds it, atomically. */
gl_status gl_qml_write(const char *vector_path, const char *const *names, int n,
                       const gl_colors *colors, gl_error *err);

/* The same style as the default of every tile layer of a GeoPackage open for update (ds, at
 * path for messages), as rows of QGIS's layer_styles table (created when missing). A .qml can
 * style only one layer of a file; --layer-per-crs and labels_nogeo make several. */
#define GL_QML_STYLES_TABLE "layer_styles"
gl_status gl_qml_gpkg_styles(GDALDatasetH ds, const char *path, const char *const *names, int n,
                             const gl_colors *colors, gl_error *err);

#endif
