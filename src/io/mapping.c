/* mapping.c: read-only file mappings of weight files, and giving back their pages once read: the
 * model's weights are packed at load into their own copy, the mapped bytes then only a key. */
#include "io/mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

gl_status gl_map_file(const char *path, void **map, size_t *size, gl_error *err) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    gl_status s = GL_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        s = gl_fail(err, GL_ERR_IO, "%s: not a regular file", path);
    } else if (sb.st_size > 0) { /* mmap refuses a length of 0: an empty file stays unmapped */
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            s = gl_fail(err, GL_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        else
            *map = m, *size = (size_t)sb.st_size;
    }
    close(fd);
    return s;
}

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
