/* kube_record.c — the Kubernetes call recorder (see kube-record-internal.h).
 * The path is read the way the API server's request info reads it, so the
 * line names what RBAC checks. */
#include "kube-record-internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEGMENTS 8
#define MAX_SEGMENT 254 /* a DNS subdomain, its NUL */

/* Splits path at '/' into segs (copies); their count, or -1 when longer. */
static int split(const char *path, char segs[][MAX_SEGMENT], int max)
{
    int n = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (n == max || len >= MAX_SEGMENT)
            return -1;
        memcpy(segs[n], p, len);
        segs[n++][len] = '\0';
        p += len;
    }
    return n;
}

/* Whether the query asks for a watch (watch=1 or watch=true). */
static int is_watch(const char *query)
{
    for (const char *p = query; p && *p; p += strcspn(p, "&"), p += *p == '&') {
        if (!strncmp(p, "watch=1", 7) && (p[7] == '&' || !p[7]))
            return 1;
        if (!strncmp(p, "watch=true", 10) && (p[10] == '&' || !p[10]))
            return 1;
    }
    return 0;
}

int ambd_kube_record_line(const char *method, const char *path, const char *query, char *out,
                          size_t n)
{
    char segs[MAX_SEGMENTS][MAX_SEGMENT];
    int count = split(path, segs, MAX_SEGMENTS);
    const char *group;
    int at;
    if (count >= 2 && !strcmp(segs[0], "api")) {
        group = "-";
        at = 2; /* /api/v1/... */
    } else if (count >= 3 && !strcmp(segs[0], "apis")) {
        group = segs[1];
        at = 3; /* /apis/group/version/... */
    } else {
        return -1;
    }
    int namespaced = 0;
    /* namespaces/NS/<resource>... is namespaced; namespaces/NS and its
     * status or finalize are the Namespace object itself. */
    if (count - at >= 3 && !strcmp(segs[at], "namespaces") && strcmp(segs[at + 2], "status") &&
        strcmp(segs[at + 2], "finalize")) {
        namespaced = 1;
        at += 2;
    }
    if (count <= at)
        return -1;
    const char *resource = segs[at];
    int has_name = count - at >= 2;
    const char *sub = count - at >= 3 ? segs[at + 2] : "-";
    const char *verb;
    if (!strcmp(method, "GET"))
        verb = is_watch(query) ? "watch" : has_name ? "get" : "list";
    else if (!strcmp(method, "POST"))
        verb = "create";
    else if (!strcmp(method, "PUT"))
        verb = "update";
    else if (!strcmp(method, "PATCH"))
        verb = "patch";
    else if (!strcmp(method, "DELETE"))
        verb = has_name ? "delete" : "deletecollection";
    else
        return -1;
    int w = snprintf(out, n, "%s %s %s %s %d", verb, group, resource, sub, namespaced);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

void ambd_kube_record(const char *method, const char *path, const char *query,
                      const char *user_token)
{
    const char *file = getenv(AMBD_KUBE_CALL_LOG_ENV);
    char line[4 * MAX_SEGMENT + 32];
    if (!file || !*file || user_token || !method || !path ||
        ambd_kube_record_line(method, path, query, line, sizeof line - 1) != 0)
        return;
    strcat(line, "\n");
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    /* Best effort: a line lost here fails the check that reads the file;
     * the request itself goes on. */
    ssize_t wrote = write(fd, line, strlen(line));
    (void)wrote;
    close(fd);
}
