/* index.c: `geolabel index --model M INPUT... -o tiles.gpkg`: every tile's embedding stored once,
 * so `label --from-index` and `search` never run the image tower again. Options are label's. */
#include "cli.h"

void cli_index_usage(FILE *fp) {
    fprintf(
        fp,
        "usage: geolabel index --model M [options] INPUT... -o tiles.gpkg\n"
        "  Stores each tile's CLIP embedding in a GeoPackage (one feature per tile: polygon,\n"
        "  input, row/col, pixel bounds, nodata flag, embedding BLOB; a metadata table with the\n"
        "  model and its hash, the stored dtype, the compute_dtype, preprocessing, tiling and\n"
        "  version). Then:\n"
        "    geolabel label --from-index tiles.gpkg --model M --classes C -o out.csv\n"
        "    geolabel search --index tiles.gpkg --model M --text \"solar farm\" -o hits.csv\n"
        "  --split, --remainder, --tile, --overlap, --bands, --stretch, --tta, --threads,\n"
        "  --batch                   as for label (they are fixed in the index)\n"
        "  --embedding-dtype f16|f32 stored precision (default f16: half the size)\n"
        "  --crs CRS                 the layer's CRS for the tile polygons (default EPSG:4326)\n"
        "  --resume                  continue an interrupted index (tiles.part.gpkg): committed\n"
        "                            tiles are kept, each input goes on after its last one\n");
    cli_dtype_help(fp);
}

int cmd_index(int argc, char **argv) {
    return cli_label_main("index", argc, argv);
}
