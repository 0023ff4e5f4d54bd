/* llm.h: what src/llm shares with its users inside the library: chat request bodies and answers,
 * the response cache, the PNG data URL of a patch, and GeoVision Labeler's prompts and parsing. */
#ifndef GEOLABEL_LLM_H
#define GEOLABEL_LLM_H

#include "geolabel.h"

/* ---------------------------------------------------------------- chat.c */

/* The JSON body of a chat completion: an optional system message, then one user message made of
 * an optional image (a data URL) followed by the text parts. One text part and no image is sent
 * as a plain string, as the OpenAI reference shows; otherwise as content parts. max_tokens <= 0
 * and a NAN temperature are left out. malloc'ed, deterministic (the cache key hashes it); NULL
 * when out of memory. */
char *gl_llm_chat_body(const char *model, const char *system, const char *const *texts, int n_texts,
                       const char *image_url, int max_tokens, double temperature);

/* A body of plain-text turns: roles[i] ("system", "user", "assistant") says texts[i]. */
char *gl_llm_chat_turns(const char *model, const char *const *roles, const char *const *texts,
                        int n, int max_tokens, double temperature);

/* Reads one chat completion answer: choices[0].message.content. Empty choices, a refusal, a
 * finish_reason of "length" or "content_filter", a missing content, a body that is not JSON are
 * each GL_ERR_FORMAT with a one-line reason. The tokens of its usage are added to *prompt_tokens
 * and *completion_tokens (either may be NULL). *content is malloc'ed. */
gl_status gl_llm_parse_answer(const char *body, size_t len, char **content, long *prompt_tokens,
                              long *completion_tokens, gl_error *err);

/* ---------------------------------------------------------------- cache.c */

/* DIR/<first two hex digits>/<sha256 of body>.json holds the answer body. A lookup gives 1 and
 * the malloc'ed body, 0 when absent or unreadable. A store is atomic; a failure to store is only
 * reported (the answer is still used). */
int gl_llm_cache_get(const char *dir, const char *body, char **answer, size_t *len);
gl_status gl_llm_cache_put(const char *dir, const char *body, const char *answer, size_t len,
                           gl_error *err);

/* ---------------------------------------------------------------- image.c */

/* "data:image/png;base64,..." of an 8-bit RGB image [h][w][3]. malloc'ed; NULL on failure. */
char *gl_llm_png_data_url(const unsigned char *rgb, int w, int h, gl_error *err);

/* ---------------------------------------------------------------- gvl.c: GVL's texts */

#define GL_GVL_VISION_PROMPT "Detailed long description of the image: "
#define GL_GVL_CONTEXT "This is a satellite image"

/* The vision step's user text parts, as GVL's vision.py builds them: "{context}. ", then
 * "The file name with geo-information is {stem}. " (include_filename; stem: the base name up to
 * its first '.'), "The image belongs to one of the following classes: {a, b}. "
 * (include_classes), then the prompt. The context is stripped and loses one trailing '.', so
 * "...image" and "...image." both give "...image. ". parts[] get malloc'ed strings (free each);
 * returns how many (2 to 4), 0 when out of memory. */
int gl_gvl_vision_parts(const char *context, const char *prompt, const char *input_path,
                        const char *const *classes, int n_classes, int include_filename,
                        int include_classes, char *parts[4]);

/* GVL's cleaning of a generated description: tag pairs "<..>..<..>" removed, "user\n\n" and
 * "assistant\n\n" removed, lower-cased, everything up to and including the echoed prompt on the
 * first line removed, stripped. malloc'ed. */
char *gl_gvl_clean_description(const char *text, const char *prompt);

/* The classifier's user message (system: "You are a classifier."): GVL's classifier.py text with
 * the classes joined by ", " and, with tile_name non-NULL, the request to use the filename. */
#define GL_GVL_CLASSIFIER_SYSTEM "You are a classifier."
char *gl_gvl_classifier_prompt(const char *description, const char *const *classes, int n,
                               const char *tile_name);

/* The index of the class the answer names, or -1: the answer is trimmed and loses one trailing
 * '.', ',', '!' or '?'; then an exact match, then a case-insensitive one. */
int gl_gvl_match_class(const char *answer, const char *const *classes, int n);

/* cluster.py's two prompts: name n_clusters clusters of the classes ("Cluster_k: name" lines),
 * then put one class into one of the named categories ("Cat: name"). */
char *gl_gvl_cluster_names_prompt(const char *const *classes, int n, int n_clusters);
char *gl_gvl_cluster_assign_prompt(const char *const *names, int n_names, const char *class_name);
/* The names in "Cluster_k: name" lines, cleaned as cluster.py does (only ASCII letters, digits,
 * '_' and spaces kept, then stripped), empty and repeated names dropped. malloc'ed array of
 * malloc'ed strings (gl_strings_free); *n may be 0. */
gl_status gl_gvl_parse_cluster_names(const char *answer, char ***names, int *n, gl_error *err);
/* The category an answer "Cat: name" gives: the text after the first ':' up to the next, stripped,
 * matched to names exactly, then case-insensitively, then as cluster.py does by one containing
 * the other. -1 when none. */
int gl_gvl_parse_cluster_choice(const char *answer, const char *const *names, int n);

#endif
