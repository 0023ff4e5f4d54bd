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
        "  The options are label's, and fixed in the index; label's own (classes, prompts, its\n"
        "  outputs, the LLM pipeline) are refused.\n");
    cli_help(fp, CLI_O_MODEL);
    cli_help(fp, CLI_O_ARCH);
    fprintf(fp,
            "  -o, --output tiles.gpkg   the index\n"
            "  --input PATH              an INPUT (GVL's --input_dir); --inputs-from FILE: one\n"
            "                            per line; --stac ITEM|URL [--asset NAME|R,G,B]\n");
    cli_tiling_help(fp);
    cli_help(fp, CLI_O_BANDS);
    cli_help(fp, CLI_O_STRETCH);
    fprintf(fp, "  --tta LIST                average over augmentations: x,y,xy,rot90,rot270\n"
                "  --embedding-dtype f16|f32 stored precision (default f16: half the size)\n"
                "  --crs CRS                 the layer's CRS for the tile polygons (default "
                "EPSG:4326)\n");
    cli_help(fp, CLI_O_RESUME);
    fprintf(fp, "                            (tiles.part.gpkg): committed tiles are kept, each\n"
                "                            input goes on after its last one\n");
    cli_help(fp, CLI_O_THREADS);
    cli_help(fp, CLI_O_BATCH);
    cli_dtype_help(fp);
    cli_shard_help(fp);
    cli_help(fp, CLI_O_HELP);
}

int cmd_index(int argc, char **argv) {
    return cli_label_main("index", argc, argv);
}
