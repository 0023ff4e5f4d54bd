/* fuzz_jsonl_rows.c: the Geograph data set's JSONL rows (id, types, distance, split, weight and a
 * base64 float32 embedding of 4 values here), skipping or keeping bad rows by the size's parity. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_error err = {0};
    gl_hreader *r = gl_hreader_open(fuzz_file("rows.jsonl", data, size), 4, (int)(size & 1), &err);
    if (r) {
        gl_hrow row;
        float sum = 0;
        while (gl_hreader_next(r, &row, &err) == 1)
            for (int i = 0; i < 4; i++)
                sum += row.embedding[i] + (float)strlen(row.id) + (float)strlen(row.types);
        (void)sum;
        gl_hreader_bad_rows(r);
        gl_hreader_first_bad(r);
    }
    gl_hreader_free(r);
    return 0;
}
