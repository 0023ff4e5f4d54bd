/* hub.c: the model cache and Hugging Face Hub downloads (libcurl): file listing through the
 * tree API, resumable downloads to .part files, size and sha256 checks, atomic rename into place.
 */
#include "core/buf.h"
#include "core/progress.h"
#include "geolabel.h"
#include "io/json.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HUB_LISTING_MAX (8u << 20) /* a tree listing or an index JSON */
#define HUB_MAX_FILES 64
#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

/* The files of a CLIP folder a pull fetches when the tree lists them (weights come separately). */
static const char *const wanted_files[] = {"config.json",
                                           "preprocessor_config.json",
                                           "vocab.json",
                                           "merges.txt",
                                           "tokenizer.json",
                                           "tokenizer_config.json",
                                           "special_tokens_map.json"};

/* ------------------------------------------------------------------ cache paths */

gl_status gl_hub_cache_dir(char *out, size_t out_size, gl_error *err) {
    const char *root = getenv("GEOLABEL_CACHE"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    int n;
    if (root && *root)
        n = snprintf(out, out_size, "%s", root);
    else if (xdg && *xdg)
        n = snprintf(out, out_size, "%s/geolabel", xdg);
    else if (home && *home)
        n = snprintf(out, out_size, "%s/.cache/geolabel", home);
    else
        return gl_fail(err, GL_ERR_ARG,
                       "no model cache: set GEOLABEL_CACHE, XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= out_size)
        return gl_fail(err, GL_ERR_ARG, "model cache path is too long");
    return GL_OK;
}

/* ORG/NAME with the Hub's characters; nothing that could climb out of the cache. */
static int valid_repo_id(const char *id) {
    const char *slash = strchr(id, '/');
    if (!slash || slash == id || !slash[1] || strchr(slash + 1, '/') || strlen(id) > 200) return 0;
    if (id[0] == '.' || slash[1] == '.' || strstr(id, "..") || strstr(id, "--")) return 0;
    for (const char *p = id; *p; p++)
        if (!(p == slash || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* <cache>/models/ORG--NAME */
static gl_status model_cache_dir(const char *repo_id, char *out, size_t out_size, gl_error *err) {
    char root[3072];
    gl_status s = gl_hub_cache_dir(root, sizeof root, err);
    if (s) return s;
    const char *slash = strchr(repo_id, '/');
    int n = snprintf(out, out_size, "%s/models/%.*s--%s", root, (int)(slash - repo_id), repo_id,
                     slash + 1);
    if (n < 0 || (size_t)n >= out_size)
        return gl_fail(err, GL_ERR_ARG, "%s: cache path is too long", repo_id);
    return GL_OK;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

gl_status gl_model_resolve(const char *dir_or_id, char *out_dir, size_t out_size, gl_error *err) {
    if (is_dir(dir_or_id)) {
        if ((size_t)snprintf(out_dir, out_size, "%s", dir_or_id) >= out_size)
            return gl_fail(err, GL_ERR_ARG, "%s: path is too long", dir_or_id);
        return GL_OK;
    }
    if (!valid_repo_id(dir_or_id))
        return gl_fail(err, GL_ERR_IO, "%s: no such model folder (nor a Hub id ORG/NAME)",
                       dir_or_id);
    gl_status s = model_cache_dir(dir_or_id, out_dir, out_size, err);
    if (s) return s;
    if (!is_dir(out_dir))
        return gl_fail(
            err, GL_ERR_IO,
            "%s: not a folder and not in the model cache (%s); run 'geolabel model pull %s'",
            dir_or_id, out_dir, dir_or_id);
    return GL_OK;
}

/* ------------------------------------------------------------------ sha256 */

/* Lower-case hex digest of a file into hex (2 * digest size + 1). git_blob: hash as git does a
 * blob ("blob <size>\0" first), which is how the Hub names files that are not in LFS. */
static gl_status file_digest(const char *path, const EVP_MD *md_type, int git_blob, char *hex,
                             gl_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, md_type, NULL);
    if (ok && git_blob) {
        struct stat st;
        ok = fstat(fileno(fp), &st) == 0;
        int k = ok ? snprintf((char *)buf, sizeof buf, "blob %lld", (long long)st.st_size) : 0;
        ok = ok && EVP_DigestUpdate(ctx, buf, (size_t)k + 1); /* with the NUL */
    }
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, fp)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(fp) && EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    fclose(fp);
    if (!ok) return gl_fail(err, GL_ERR_IO, "%s: cannot compute its digest", path);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return GL_OK;
}

gl_status gl_file_sha256(const char *path, char hex[65], gl_error *err) {
    return file_digest(path, EVP_sha256(), 0, hex, err);
}

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    const char *endpoint, *repo_id, *revision;
    const char *token; /* from $HF_TOKEN; never printed */
    CURL *curl;
} hub;

static size_t membuf_write(char *p, size_t size, size_t nmemb, void *ctx) {
    gl_buf *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n + 1 > HUB_LISTING_MAX) return 0;
    return gl_buf_append(b, p, n) ? 0 : n;
}

static void hub_request(hub *h, const char *url) {
    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h->curl, CURLOPT_FAILONERROR, 1L); /* an error page must not land in a .part */
    curl_easy_setopt(h->curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT,
                     1L); /* a stalled transfer fails after 60 s */
    curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "geolabel/0.1");
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    if (h->token && *h->token) {
        /* bearer auth, unlike a raw header, is not forwarded when the Hub redirects to a CDN */
        curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(h->curl, CURLOPT_XOAUTH2_BEARER, h->token);
    }
}

/* Turns a failed transfer into one line; the URL never carries the token. */
static gl_status hub_check(hub *h, CURLcode rc, const char *what, gl_error *err) {
    long code = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
        rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_RESOLVE_PROXY ||
        rc == CURLE_SSL_CONNECT_ERROR)
        return gl_fail(err, GL_ERR_NET,
                       "%s: the Hub at %s is unreachable (%s); to work offline pass a local model "
                       "folder path instead of %s",
                       what, h->endpoint, curl_easy_strerror(rc), h->repo_id);
    if (code == 401 || code == 403)
        return gl_fail(err, GL_ERR_NET,
                       "%s: HTTP %ld from %s: the repository is private or gated; set HF_TOKEN",
                       what, code, h->endpoint);
    if (code == 404)
        return gl_fail(err, GL_ERR_NET,
                       "%s: HTTP 404 from %s: no such repository, revision or file", what,
                       h->endpoint);
    if (rc != CURLE_OK)
        return gl_fail(err, GL_ERR_NET, "%s: download failed: %s", what, curl_easy_strerror(rc));
    if (code >= 400)
        return gl_fail(err, GL_ERR_NET, "%s: HTTP %ld from %s", what, code, h->endpoint);
    return GL_OK;
}

/* The revision as one URL path segment ("refs/pr/1" -> "refs%2Fpr%2F1"). */
static char *escaped_revision(hub *h) {
    return curl_easy_escape(h->curl, h->revision, 0);
}

static gl_status hub_get_json(hub *h, const char *url, const char *what, cJSON **out,
                              gl_error *err) {
    gl_buf b = {0};
    hub_request(h, url);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, membuf_write);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &b);
    gl_status s = hub_check(h, curl_easy_perform(h->curl), what, err);
    if (!s) {
        *out = b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
        if (!*out) s = gl_fail(err, GL_ERR_FORMAT, "%s: the Hub's answer is not JSON", what);
    }
    free(b.data);
    return s;
}

/* ------------------------------------------------------------------ the file list */

typedef struct {
    char path[256];
    long long size;    /* -1 when unknown */
    char sha256[65];   /* LFS files: the content's sha256; "" when the Hub gives none */
    char git_sha1[41]; /* other files: git's blob id; "" when the Hub gives none */
} hub_file;

typedef struct {
    hub_file files[HUB_MAX_FILES];
    int count;
} hub_list;

/* {endpoint}/api/models/{repo}/tree/{revision}[/{sub}]:
 * [{"type","path","size","lfs":{"oid","size"}}], paths relative to the repository root. */
static gl_status fetch_tree(hub *h, const char *sub, cJSON **tree, gl_error *err) {
    char url[4096], what[512];
    char *rev = escaped_revision(h);
    snprintf(url, sizeof url, "%s/api/models/%s/tree/%s%s%s", h->endpoint, h->repo_id,
             rev ? rev : "main", *sub ? "/" : "", sub);
    curl_free(rev);
    snprintf(what, sizeof what, "%s@%s: file list", h->repo_id, h->revision);
    gl_status s = hub_get_json(h, url, what, tree, err);
    if (!s && !cJSON_IsArray(*tree)) {
        cJSON_Delete(*tree);
        *tree = NULL;
        s = gl_fail(err, GL_ERR_FORMAT, "%s: expected a JSON array of files", what);
    }
    return s;
}

static const cJSON *tree_entry(const cJSON *tree, const char *path) {
    const cJSON *e;
    cJSON_ArrayForEach(e, tree) {
        const cJSON *p = cJSON_GetObjectItem(e, "path");
        if (cJSON_IsString(p) && !strcmp(p->valuestring, path)) return e;
    }
    return NULL;
}

/* Safe relative file names only: no '..', no absolute paths. */
static int valid_file_name(const char *p) {
    return *p && *p != '/' && !strstr(p, "..") && strlen(p) < sizeof((hub_file *)0)->path;
}

static gl_status list_add(hub_list *list, const cJSON *tree, const char *path, gl_error *err) {
    for (int i = 0; i < list->count; i++)
        if (!strcmp(list->files[i].path, path)) return GL_OK;
    if (!valid_file_name(path))
        return gl_fail(err, GL_ERR_FORMAT, "%s: unsafe file name in the listing", path);
    if (list->count == HUB_MAX_FILES)
        return gl_fail(err, GL_ERR_LIMIT, "%s: too many files to fetch", path);
    hub_file *f = &list->files[list->count++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->size = -1;
    const cJSON *e = tree_entry(tree, path);
    const cJSON *size = cJSON_GetObjectItem(e, "size"), *lfs = cJSON_GetObjectItem(e, "lfs");
    if (cJSON_IsNumber(size) && size->valuedouble >= 0) f->size = (long long)size->valuedouble;
    const cJSON *blob = cJSON_GetObjectItem(e, "oid");
    if (!lfs && cJSON_IsString(blob) && strlen(blob->valuestring) == 40)
        snprintf(f->git_sha1, sizeof f->git_sha1, "%s", blob->valuestring);
    const cJSON *oid = cJSON_GetObjectItem(lfs, "oid");
    if (cJSON_IsString(oid) && strlen(oid->valuestring) == 64)
        snprintf(f->sha256, sizeof f->sha256, "%s", oid->valuestring);
    const cJSON *lsize = cJSON_GetObjectItem(lfs, "size");
    if (cJSON_IsNumber(lsize) && lsize->valuedouble >= 0) f->size = (long long)lsize->valuedouble;
    return GL_OK;
}

/* The shards named by an already downloaded index (model.safetensors.index.json or
 * pytorch_model.bin.index.json: the same weight_map form). */
static gl_status add_shards(hub_list *list, const cJSON *tree, const char *index_path,
                            gl_error *err) {
    cJSON *index;
    gl_status s = gl_json_load_object(index_path, HUB_LISTING_MAX, &index, err);
    if (s) return s;
    const cJSON *map = cJSON_GetObjectItem(index, "weight_map"), *e;
    if (!cJSON_IsObject(map))
        s = gl_fail(err, GL_ERR_FORMAT, "%s: no weight_map object", index_path);
    cJSON_ArrayForEach(e, map) {
        if (s) break;
        if (!cJSON_IsString(e))
            s = gl_fail(err, GL_ERR_FORMAT, "%s: weight_map values must be file names", index_path);
        else if (!tree_entry(tree, e->valuestring))
            s = gl_fail(err, GL_ERR_FORMAT, "%s: shard %s is not in the repository", index_path,
                        e->valuestring);
        else
            s = list_add(list, tree, e->valuestring, err);
    }
    cJSON_Delete(index);
    return s;
}

/* ------------------------------------------------------------------ one file */

typedef struct {
    FILE *fp;
    long long offset; /* bytes already in the .part file when the request started */
    int checked;
    gl_progress *progress;
    CURL *curl;
} download;

/* A server that ignores Range answers 200 with the whole file: start the .part over. */
static size_t download_write(char *p, size_t size, size_t nmemb, void *ctx) {
    download *d = ctx;
    if (!d->checked) {
        long code = 0;
        curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
        if (d->offset > 0 && code == 200) {
            if (fflush(d->fp) != 0 || ftruncate(fileno(d->fp), 0) != 0 ||
                fseek(d->fp, 0, SEEK_SET) != 0)
                return 0;
            d->offset = 0;
        }
        d->checked = 1;
    }
    size_t n = fwrite(p, size, nmemb, d->fp);
    gl_progress_add(d->progress, (long)(n * size));
    return n * size;
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

static gl_status verify(const hub_file *f, const char *part, const char *what, gl_error *err) {
    long long got = file_size(part);
    if (f->size >= 0 && got != f->size)
        return gl_fail(err, GL_ERR_NET, "%s: got %lld bytes, the Hub lists %lld", what, got,
                       f->size);
    int lfs = f->sha256[0] != 0;
    const char *want = lfs ? f->sha256 : f->git_sha1;
    if (!want[0]) return GL_OK;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    gl_status s = file_digest(part, lfs ? EVP_sha256() : EVP_sha1(), !lfs, hex, err);
    if (s) return s;
    if (strcmp(hex, want) != 0) {
        unlink(part); /* corrupt: the next pull starts over */
        return gl_fail(
            err, GL_ERR_FORMAT,
            "%s: %s mismatch (got %.12s..., the Hub lists %.12s...); removed, pull again", what,
            lfs ? "sha256" : "git blob sha1", hex, want);
    }
    return GL_OK;
}

/* Downloads (or resumes) one file into dir/path.part, checks it, renames it into place. */
static gl_status fetch_file(hub *h, const hub_file *f, const char *dir, gl_progress *progress,
                            gl_error *err) {
    char dest[4400], part[4410], url[8192], what[512];
    snprintf(dest, sizeof dest, "%s/%s", dir, f->path);
    snprintf(part, sizeof part, "%s.part", dest);
    snprintf(what, sizeof what, "%s/%s", h->repo_id, f->path);
    if (strchr(f->path, '/')) { /* a file pulled with --file may sit in a subfolder */
        char parent[4400];
        snprintf(parent, sizeof parent, "%s", dest);
        *strrchr(parent, '/') = 0;
        gl_status ms = gl_make_dirs(parent, err);
        if (ms) return ms;
    }
    long long have = file_size(dest);
    if (have >= 0 && (f->size < 0 || have == f->size)) {
        /* A cached file of the right size may still be damaged (or replaced): its digest is
         * checked again before it is trusted, and a bad one is fetched anew. */
        gl_error e = {0};
        if (verify(f, dest, what, &e) == GL_OK) {
            gl_progress_add(progress, (long)(have > 0 ? have : 0));
            return GL_OK;
        }
        gl_log(GL_LOG_WARN, "%s: the cached copy fails its check (%s); downloading it again", dest,
               e.msg);
        unlink(dest);
    }
    long long partial = file_size(part);
    if (partial < 0 || (f->size >= 0 && partial > f->size)) partial = 0;
    gl_status s = GL_OK;
    if (f->size < 0 || partial < f->size) {
        FILE *fp = fopen(part, partial > 0 ? "ab" : "wb");
        if (!fp) return gl_fail(err, GL_ERR_IO, "%s: cannot write: %s", part, strerror(errno));
        char *rev = escaped_revision(h);
        snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", h->endpoint, h->repo_id,
                 rev ? rev : "main", f->path);
        curl_free(rev);
        download d = {fp, partial, 0, progress, h->curl};
        gl_progress_add(progress, (long)partial);
        hub_request(h, url);
        curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, download_write);
        curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &d);
        if (partial > 0) curl_easy_setopt(h->curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)partial);
        s = hub_check(h, curl_easy_perform(h->curl), what, err);
        if (fclose(fp) != 0 && !s)
            s = gl_fail(err, GL_ERR_IO, "%s: write failed: %s", part, strerror(errno));
    } else {
        gl_progress_add(progress, (long)partial);
    }
    if (!s) s = verify(f, part, what, err);
    if (!s && rename(part, dest) != 0)
        s = gl_fail(err, GL_ERR_IO, "%s: cannot rename into place: %s", dest, strerror(errno));
    return s;
}

/* ------------------------------------------------------------------ pull */

static gl_status fetch_all(hub *h, hub_list *list, int from, const char *dir, gl_error *err) {
    long long total = 0;
    for (int i = from; i < list->count; i++)
        total += list->files[i].size > 0 ? list->files[i].size : 0;
    gl_progress progress;
    gl_progress_begin(&progress, "bytes", (long)total);
    gl_status s = GL_OK;
    for (int i = from; i < list->count && !s; i++)
        s = fetch_file(h, &list->files[i], dir, &progress, err);
    gl_progress_end(&progress);
    return s;
}

/* The weights a folder pull takes, in order of preference: safetensors (mmap'ed as they are),
 * then pytorch_model.bin, each whole or as a sharded index; an open_clip repository's own. A
 * repository with both layouts (LAION's) is pulled as the HF folder, as transformers users see it.
 */
static const struct {
    const char *config, *weights;
    int index;
} layouts[] = {{"config.json", "model.safetensors", 0},
               {"config.json", "model.safetensors.index.json", 1},
               {"config.json", "pytorch_model.bin", 0},
               {"config.json", "pytorch_model.bin.index.json", 1},
               {"open_clip_config.json", "open_clip_model.safetensors", 0},
               {"open_clip_config.json", "open_clip_pytorch_model.bin", 0}};

/* Picks the files, fetching the shard index first when the weights are sharded. */
static gl_status pull_files(hub *h, const cJSON *tree, const char *dir, gl_error *err) {
    int pick = -1;
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts && pick < 0; i++)
        if (tree_entry(tree, layouts[i].config) && tree_entry(tree, layouts[i].weights))
            pick = (int)i;
    if (pick < 0)
        return gl_fail(err, GL_ERR_UNSUPPORTED,
                       "%s@%s: no CLIP weights in the repository (config.json with "
                       "model.safetensors or pytorch_model.bin, or an open_clip_config.json with "
                       "open_clip weights); for a single checkpoint use --file PATH",
                       h->repo_id, h->revision);
    hub_list *list = calloc(1, sizeof *list);
    if (!list) return gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", h->repo_id);
    gl_status s = list_add(list, tree, layouts[pick].config, err);
    for (size_t i = 0; i < sizeof wanted_files / sizeof *wanted_files && !s; i++)
        if (pick < 4 && tree_entry(tree, wanted_files[i]))
            s = list_add(list, tree, wanted_files[i], err);
    if (!s) s = list_add(list, tree, layouts[pick].weights, err);
    if (!s) s = fetch_all(h, list, 0, dir, err);
    if (!s && layouts[pick].index) {
        char index[4400];
        snprintf(index, sizeof index, "%s/%s", dir, layouts[pick].weights);
        int before = list->count;
        s = add_shards(list, tree, index, err);
        if (!s) s = fetch_all(h, list, before, dir, err);
    }
    free(list);
    return s;
}

/* --arch for a pulled checkpoint: a shipped open_clip architecture NAME or a CONFIG.json, copied
 * beside the file as FILE.arch.json, where --model ORG/NAME/FILE finds it. */
static gl_status keep_arch(const char *arch, const char *file, gl_error *err) {
    char from[4096], to[4500];
    FILE *fp = fopen(arch, "rb");
    if (!fp) {
        char rel[300];
        if (strlen(arch) > 200 || strchr(arch, '/') || strstr(arch, ".."))
            return gl_fail(err, GL_ERR_ARG, "%s: no such architecture file", arch);
        snprintf(rel, sizeof rel, "open_clip/%s.json", arch);
        gl_error quiet = {0};
        if (gl_data_path(rel, from, sizeof from, &quiet))
            return gl_fail(err, GL_ERR_ARG,
                           "%s: neither a config file nor a shipped open_clip architecture", arch);
        fp = fopen(from, "rb");
        if (!fp) return gl_fail(err, GL_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    }
    snprintf(to, sizeof to, "%s.arch.json", file);
    gl_atomic_file f;
    gl_status s = gl_atomic_open(&f, to, err);
    if (!s) {
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
            fwrite(buf, 1, n, f.fp);
        s = ferror(fp) ? (gl_atomic_abort(&f), gl_fail(err, GL_ERR_IO, "%s: read failed", arch))
                       : gl_atomic_commit(&f, err);
    }
    fclose(fp);
    return s;
}

/* --file PATH: that one file, checked against the listing of its folder. */
static gl_status pull_one_file(hub *h, const char *path, const char *dir, gl_error *err) {
    if (!valid_file_name(path) || strstr(path, "//") || path[strlen(path) - 1] == '/')
        return gl_fail(err, GL_ERR_ARG, "%s: not a file path inside the repository", path);
    const char *slash = strrchr(path, '/');
    char sub[300] = "";
    if (slash) snprintf(sub, sizeof sub, "%.*s", (int)(slash - path), path);
    cJSON *tree = NULL;
    gl_status s = fetch_tree(h, sub, &tree, err);
    if (!s && !tree_entry(tree, path))
        s = gl_fail(err, GL_ERR_NET, "%s@%s: no file %s in the repository", h->repo_id, h->revision,
                    path);
    hub_list *list = s ? NULL : calloc(1, sizeof *list);
    if (!s && !list) s = gl_fail(err, GL_ERR_NOMEM, "%s: out of memory", h->repo_id);
    if (!s) s = list_add(list, tree, path, err);
    if (!s) s = gl_make_dirs(dir, err);
    if (!s) s = fetch_all(h, list, 0, dir, err);
    free(list);
    cJSON_Delete(tree);
    return s;
}

gl_pull_params gl_pull_default_params(void) {
    return (gl_pull_params){.revision = "main", .file = NULL, .arch = NULL};
}

gl_status gl_hub_pull(const char *repo_id, const gl_pull_params *params, char *out, size_t out_size,
                      gl_error *err) {
    gl_pull_params p = params ? *params : gl_pull_default_params();
    if (!valid_repo_id(repo_id))
        return gl_fail(err, GL_ERR_ARG, "%s: not a Hub model id of the form ORG/NAME", repo_id);
    if (p.arch && !p.file)
        return gl_fail(err, GL_ERR_ARG, "%s: --arch goes with --file (a single checkpoint)",
                       repo_id);
    hub h = {getenv("HF_ENDPOINT"), repo_id, p.revision && *p.revision ? p.revision : "main",
             getenv("HF_TOKEN"), NULL};
    char endpoint[1024];
    snprintf(endpoint, sizeof endpoint, "%s",
             h.endpoint && *h.endpoint ? h.endpoint : HUB_DEFAULT_ENDPOINT);
    for (size_t n = strlen(endpoint); n > 0 && endpoint[n - 1] == '/'; n--)
        endpoint[n - 1] = 0;
    h.endpoint = endpoint;
    char dir[4096];
    gl_status s = model_cache_dir(repo_id, dir, sizeof dir, err);
    if (s) return s;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return gl_fail(err, GL_ERR_NET, "libcurl failed to start");
    h.curl = curl_easy_init();
    cJSON *tree = NULL;
    if (!h.curl) s = gl_fail(err, GL_ERR_NET, "libcurl failed to start");
    if (!s && p.file) {
        s = pull_one_file(&h, p.file, dir, err);
    } else if (!s) {
        s = fetch_tree(&h, "", &tree, err);
        /* only now: an empty folder would pass for a pulled model */
        if (!s) s = gl_make_dirs(dir, err);
        if (!s) s = pull_files(&h, tree, dir, err);
    }
    cJSON_Delete(tree);
    curl_easy_cleanup(h.curl);
    curl_global_cleanup();
    int n =
        p.file ? snprintf(out, out_size, "%s/%s", dir, p.file) : snprintf(out, out_size, "%s", dir);
    if (!s && (n < 0 || (size_t)n >= out_size))
        s = gl_fail(err, GL_ERR_ARG, "%s: path too long", dir);
    if (!s && p.arch) s = keep_arch(p.arch, out, err);
    return s;
}
