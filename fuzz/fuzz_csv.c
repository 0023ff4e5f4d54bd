/* fuzz_csv.c: an RFC 4180 CSV with a header (labels, truth, GVL outputs): every row and field,
 * and a header lookup. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_error err = {0};
    gl_csv *csv = gl_csv_open(fuzz_file("t.csv", data, size), 1, &err);
    if (csv) {
        gl_csv_column(csv, "classification");
        size_t total = 0;
        while (gl_csv_next(csv, &err) == 1)
            for (int i = 0; i <= gl_csv_field_count(csv); i++)
                total += strlen(gl_csv_field(csv, i));
        (void)total;
    }
    gl_csv_free(csv);
    return 0;
}
