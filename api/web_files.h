/* web_files.h — the web UI's built files (api/web, share/ambient/web), read
 * once into memory when the api starts. Requests are answered from this
 * table by exact path, so no request path ever reaches the file system:
 * traversal cannot happen by construction. */
#ifndef AMBIENT_API_WEB_FILES_H
#define AMBIENT_API_WEB_FILES_H

#include <stddef.h>

#define WEB_FILE_MAX (8u << 20)   /* bytes of one file; larger ones are skipped */
#define WEB_TOTAL_MAX (64u << 20) /* bytes of all files: loading stops with an error */
#define WEB_FILES_MAX 4096        /* files */
#define WEB_DEPTH_MAX 8           /* directory levels below the root */
#define WEB_PATH_MAX 512          /* bytes of a file's path below the root */

struct web_file {
    char *path;          /* "/index.html", "/assets/index-3f2a9c1b.js" */
    unsigned char *data;
    size_t len;
    const char *type;    /* Content-Type */
};

struct web_files;

/* Reads every regular file under root (resolved with realpath). Skipped,
 * with a reason counted in *skipped: names starting with '.', names with
 * bytes other than [A-Za-z0-9._-], symbolic links (nothing can point out
 * of the root), other non-regular files, files over WEB_FILE_MAX and
 * directories deeper than WEB_DEPTH_MAX. 0, or -1 with why (root missing,
 * not a directory, WEB_TOTAL_MAX or WEB_FILES_MAX passed, no memory). */
int web_files_load(const char *root, struct web_files **out, size_t *skipped, char *why,
                   size_t why_len);
/* The file at path ("/a/b.js"), or NULL. */
const struct web_file *web_files_find(const struct web_files *f, const char *path);
size_t web_files_count(const struct web_files *f);
void web_files_free(struct web_files *f);

/* The Content-Type for a file name by its extension
 * ("application/octet-stream" when unknown). */
const char *web_content_type(const char *name);

#endif
