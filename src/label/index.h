/* index.h: the tile-embedding store ("index"): its on-disk format, the writer `geolabel index` and
 * `label --save-embeddings` fill, and the streaming reader `label --from-index` and `search` use.
 *
 * FORMAT (format_version 1). An OGC GeoPackage written through GDAL/OGR (QGIS opens it):
 *   layer "tiles" (features; fid = the tile id `search --tile` takes), geometry Polygon in the
 *   layer CRS (EPSG:4326 unless --crs chose another), fields:
 *     input_id INTEGER    the id of the input's row in geolabel_inputs
 *     input TEXT          the input path as given          filename TEXT  its base name (GVL's)
 *     tile INTEGER        index in the input's tiling order (row-major, from 0)
 *     row, col INTEGER    grid position                    left, upper, right, lower INTEGER
 *                         pixel bounds in GVL's naming (lower = top y, upper = bottom y)
 *     nodata INTEGER      1: the tile is wholly nodata and has no embedding
 *     crs TEXT            the raster's CRS label ("EPSG:26913"; "" when not georeferenced);
 *                         the full WKT is the input's (geolabel_inputs.crs_wkt by input_id):
 *                         a UTM WKT2 is ~1.5 KB, more than an f16 embedding, so tiles don't
 *                         repeat it
 *     lon, lat REAL       tile centre, WGS 84 (NULL when not georeferenced)
 *     lon_min, lat_min, lon_max, lat_max REAL   WGS 84 bounds of the corners (for --bbox)
 *     corners BLOB        16 little-endian doubles: TL, TR, BR, BL as (x, y) in the raster's CRS,
 *                         then the same corners as (lon, lat); NULL when not georeferenced
 *     embedding BLOB      views * dim little-endian float16 (IEEE binary16) or float32, each view
 *                         L2-normalised; view 0 is the tile, the others the TTA views in
 *                         x, y, xy, rot90, rot270 order as chosen; NULL for nodata tiles
 *   table "geolabel_meta" (key TEXT, value TEXT): the members of gl_index_manifest (format
 *     "geolabel-index", format_version, version, model, model_hash, dim, views, tta, dtype,
 *     image_size, preprocessing, tiling, bands, stretch, layer_crs) and created
 *   table "geolabel_inputs" (input TEXT, filename TEXT, width, height INTEGER (the grid that is
 *     cut: the raster, or GVL's 224x224 resize of a small one), geotransform TEXT (6 numbers of
 *     that grid, "" without one), crs_wkt TEXT, tiles INTEGER, complete INTEGER)
 * Writes: an index is built in STEM.part.gpkg (OUT being STEM.gpkg) (SQLite transactions committed
 * every few seconds and at the end of each input); a kill -9 loses at most the uncommitted batch.
 * --resume reopens STEM.part.gpkg (or OUT), checks the metadata, and continues each input after its
 * last committed tile. On success STEM.part.gpkg is renamed to OUT.
 * Merging stores (e.g. the shards of a run): their geolabel_meta must agree on the keys --resume
 * checks (all but model, version and created: the model is compared by model_hash);
 * append each store's geolabel_inputs rows (new ids), then its
 * tiles rows with input_id mapped to the new ids (fid renumbered; ids are only unique per store).
 * Readers take tiles in fid order: keep each input's tiles in `tile` order.
 */
#ifndef GEOLABEL_LABEL_INDEX_H
#define GEOLABEL_LABEL_INDEX_H

#include "label/label.h"

#define GL_INDEX_FORMAT "geolabel-index"
#define GL_INDEX_FORMAT_VERSION "1"

/* What an index is made with, beyond the run's params. */
typedef struct {
    int dim, views, image_size;
    gl_emb_dtype dtype;
    const gl_preproc_config *preproc;
    const char *layer_crs; /* OGR user input; NULL: EPSG:4326 */
} gl_index_spec;
/* The index's run manifest (the runs section of geolabel.h): format, format_version, version,
 * model, model_hash, dim, views, tta, dtype, image_size, preprocessing, tiling, bands, stretch
 * (spelled as label's manifest spells them) and layer_crs. geolabel_meta holds its members and
 * "created". Free with gl_manifest_free. */
gl_manifest *gl_index_manifest(gl_clip *clip, const gl_label_params *p, const gl_index_spec *s,
                               gl_error *err);

typedef struct gl_index_writer gl_index_writer;
/* Opens STEM.part.gpkg (resume: continues it, or OUT, when its metadata equals m but for model,
 * version and created; otherwise starts afresh). m stays the caller's. Free by commit/abort. */
gl_index_writer *gl_index_writer_open(const char *path, const gl_manifest *m,
                                      const gl_index_spec *spec, int resume, gl_error *err);
/* 1 when the store holds input complete (gl_index_writer_end ran for it): a resumed run skips it
 * without opening its raster, which may be gone or slow to reach by now. */
int gl_index_writer_complete(gl_index_writer *w, const char *input);
/* Starts an input; *done gets how many of its tiles (a prefix in tiling order) are stored. */
gl_status gl_index_writer_begin(gl_index_writer *w, const gl_scene_grid *g, int n_tiles, long *done,
                                gl_error *err);
/* One tile: emb [views * dim] unit rows, NULL for a nodata tile; row's geometry is used. */
gl_status gl_index_writer_add(gl_index_writer *w, int tile, const gl_label_row *row,
                              const float *emb, gl_error *err);
/* Marks the input complete and commits. */
gl_status gl_index_writer_end(gl_index_writer *w, gl_error *err);
/* Drops the current input's tiles (a failed input is redone by the next run). */
gl_status gl_index_writer_drop(gl_index_writer *w, gl_error *err);
gl_status gl_index_writer_commit(gl_index_writer *w, gl_error *err);
/* Closes what is committed, keeping STEM.part.gpkg for --resume. */
void gl_index_writer_abort(gl_index_writer *w);

/* ------------------------------------------------------------------ reading */

typedef struct gl_index gl_index;
/* Opens a finished index read-only (STEM.part.gpkg and foreign files are refused). */
gl_index *gl_index_open(const char *path, gl_error *err);
void gl_index_close(gl_index *ix);
const char *gl_index_path(const gl_index *ix);
const char *gl_index_meta(const gl_index *ix, const char *key); /* NULL when absent */
/* The dtype ("f32", "bf16", "int8") whose image tower embedded the tiles; stores made before
 * --dtype existed were f32. */
const char *gl_index_compute_dtype(const gl_index *ix);
int gl_index_dim(const gl_index *ix);
int gl_index_views(const gl_index *ix);
long gl_index_max_id(const gl_index *ix); /* the largest tile id (ids are 1..max) */
/* Refuses a model whose hash differs from the index's, naming both. */
gl_status gl_index_check_model(const gl_index *ix, const char *model_hash, gl_error *err);
/* The inputs' grids in insertion order; free with gl_index_grids_free. */
gl_status gl_index_grids(const gl_index *ix, gl_scene_grid **grids, int *n, gl_error *err);
void gl_index_grids_free(gl_scene_grid *grids, int n);

/* One stored tile. Strings point into the cursor and live until the next step. */
typedef struct {
    long id, input_id;
    int tile, nodata;
    gl_label_row row; /* filename, row/col, bounds, geo; label fields unset */
    double bbox[4];   /* lon_min, lat_min, lon_max, lat_max (NAN without georeference) */
    const char *input;
} gl_index_tile;

/* A cursor over ids [lo, hi] (any range; hi < 0: to the end). Each connection is its own, so one
 * cursor per thread. with_geo 0 skips the geometry columns (search's inner loop). */
typedef struct gl_index_cursor gl_index_cursor;
gl_index_cursor *gl_index_cursor_new(const gl_index *ix, long lo, long hi, int with_geo,
                                     gl_error *err);
/* 1 with a tile (emb [views * dim] filled unless nodata), 0 at the end, -1 with err. */
int gl_index_cursor_next(gl_index_cursor *c, gl_index_tile *t, float *emb, gl_error *err);
void gl_index_cursor_free(gl_index_cursor *c);

/* A cursor over one input's tiles (input_id: its id in geolabel_inputs), in tile order. */
gl_index_cursor *gl_index_cursor_input(const gl_index *ix, long input_id, gl_error *err);

/* One tile by id (search --tile). 0 not found, 1 found, -1 error. */
int gl_index_get(const gl_index *ix, long id, gl_index_tile *t, float *emb, gl_error *err);

/* float <-> IEEE binary16, round to nearest even (F16C where the CPU has it). */
void gl_f16_encode(const float *in, uint16_t *out, size_t n);
void gl_f16_decode(const uint16_t *in, float *out, size_t n);

#endif
