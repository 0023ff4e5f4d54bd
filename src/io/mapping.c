/* mapping.c: giving back the pages of read-only file mappings once read: the model's weights are
 * packed at load into their own copy, and the mapped bytes are then only a key and a digest. */
#include "io/mapping.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void gl_map_release(const void *map, size_t map_size, const void *p, size_t n) {
    uintptr_t lo = (uintptr_t)p, hi = lo + n, mlo = (uintptr_t)map, mhi = mlo + map_size;
    if (!map || !p || !n || lo < mlo || hi > mhi || hi < lo) return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t a = (lo + page - 1) & ~(page - 1);
    /* the mapping's last page may be partial; it is still wholly ours */
    uintptr_t b = hi == mhi ? (hi + page - 1) & ~(page - 1) : hi & ~(page - 1);
    /* only a hint for memory use: a failure leaves the pages resident, nothing else */
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
