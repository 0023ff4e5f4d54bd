/* torchzip.h: PyTorch .pth checkpoints (torch.save's zip format) read without Python: the zip
 * container (io/zip.h), the restricted unpickler (io/pickle.h) with torch's storages and tensor
 * rebuilds as its only hooks, and typed tensor copies.
 *
 * Safety: the unpickler knows a fixed allow-list of opcodes and of globals
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, the
 * torch.*Storage types). Anything else, e.g. a pickle naming os.system or builtins.eval, fails
 * with GL_ERR_UNSUPPORTED naming the global; nothing in a checkpoint is ever called. Every zip
 * offset and size, and every tensor's extent inside its storage, is checked against the file.
 *
 * Ownership: gl_pth_open returns a gl_pth that owns every gl_py node, string and storage byte
 * reachable from gl_pth_root(); they stay valid until gl_pth_free. Nodes may be shared (pickle's
 * memo), so never free or modify them. */
#ifndef GEOLABEL_TORCHZIP_H
#define GEOLABEL_TORCHZIP_H

#include "geolabel.h"
#include "io/pickle.h"

#define GL_PTH_MAX_DIMS 8

typedef enum {
    GL_PTH_F32 = 0,
    GL_PTH_F64,
    GL_PTH_F16,
    GL_PTH_BF16,
    GL_PTH_I64,
    GL_PTH_I32,
    GL_PTH_I16,
    GL_PTH_I8,
    GL_PTH_U8,
    GL_PTH_BOOL
} gl_pth_dtype;

/* A tensor view into one storage (an archive entry "<prefix>/data/<storage_key>"). The view is
 * validated at load, with overflow-checked arithmetic: numel <= 2^40 and
 * offset + sum((shape[i]-1)*stride[i]) lies inside the storage. */
typedef struct gl_pth_tensor {
    gl_pth_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[GL_PTH_MAX_DIMS];
    int64_t stride[GL_PTH_MAX_DIMS]; /* in elements, as torch reports them */
    int64_t offset;                  /* storage offset in elements */
    int64_t numel;                   /* product of shape (1 for a scalar) */
    const char *storage_key;         /* "0", "1", ... */
    const unsigned char *storage;    /* storage bytes, little-endian, maybe unaligned */
    size_t storage_bytes;
    int is_parameter; /* built through torch._utils._rebuild_parameter */
} gl_pth_tensor;

typedef struct gl_pth gl_pth;

/* Opens and fully validates a checkpoint: zip structure, data.pkl through the restricted
 * unpickler, every tensor's storage. Errors: GL_ERR_IO (unreadable), GL_ERR_FORMAT (not a zip,
 * truncated, corrupt, bad pickle), GL_ERR_UNSUPPORTED (forbidden opcode or global, legacy
 * non-zip torch format, big-endian), GL_ERR_LIMIT (absurd sizes). Free with gl_pth_free. */
gl_pth *gl_pth_open(const char *path, gl_error *err);
/* The same over size bytes at data, which must outlive the gl_pth (tensors point into it); name
 * is used in messages. For the fuzz harnesses and in-memory archives. */
gl_pth *gl_pth_open_memory(const char *name, const unsigned char *data, size_t size, gl_error *err);
void gl_pth_free(gl_pth *p);
/* Gives back the resident pages of [ptr, ptr+n) when it lies in the checkpoint's file mapping
 * (io/zip.h's gl_zip_release): tensor bytes read once (checked, packed) need not stay resident;
 * they stay valid and are read back from the file when touched. Otherwise nothing happens. */
void gl_pth_release(const gl_pth *p, const void *ptr, size_t n);
const char *gl_pth_path(const gl_pth *p);
/* The object torch.save was given: usually a DICT, or a TENSOR for a bare tensor. */
const gl_py *gl_pth_root(const gl_pth *p);

/* The model weights: the root when it is a dict holding tensors, else root["model_state_dict"]
 * or root["state_dict"]. NULL (with err set, naming the file) when there is none. */
const gl_py *gl_pth_state_dict(const gl_pth *p, gl_error *err);

const char *gl_pth_dtype_name(gl_pth_dtype dtype); /* "float32", ... */
size_t gl_pth_dtype_size(gl_pth_dtype dtype);

/* Copies a tensor out as contiguous row-major float32 (any dtype above, any strides) into out,
 * which holds t->numel floats. When ndim >= 0 the tensor's shape must equal shape[0..ndim)
 * (else GL_ERR_SHAPE: "<file>: tensor 'name' has shape [7,256], expected [7,512]"). name is used
 * only for messages. */
gl_status gl_pth_tensor_f32(const gl_pth *p, const char *name, const gl_pth_tensor *t,
                            const int64_t *shape, int ndim, float *out, gl_error *err);

/* Looks key up in dict (typically gl_pth_state_dict's) and copies it as above. A missing key
 * or a non-tensor value fails naming the file and key. */
gl_status gl_pth_read_f32(const gl_pth *p, const gl_py *dict, const char *key, const int64_t *shape,
                          int ndim, float *out, gl_error *err);

/* The tensor stored under key in dict, or NULL with err set ("<file>: no tensor 'key'"). */
const gl_pth_tensor *gl_pth_find_tensor(const gl_pth *p, const gl_py *dict, const char *key,
                                        gl_error *err);

#endif
