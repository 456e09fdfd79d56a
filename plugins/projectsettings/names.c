/* names.c — deterministic RoleBinding names for groupAccess entries, and
 * small object accessors. */
#include "ps.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define GROUP_PART_MAX 40

const char *ps_meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

int ps_role_valid(const char *role)
{
    return role && (strcmp(role, "admin") == 0 || strcmp(role, "edit") == 0 ||
                    strcmp(role, "view") == 0);
}

/* A lowercase RFC 1123 label of at most GROUP_PART_MAX bytes. */
static int clean_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GROUP_PART_MAX || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

int ps_rb_name(const char *group, const char *role, char *out, size_t n)
{
    if (!group || !*group || !ps_role_valid(role) || n < PS_RB_NAME_MAX)
        return AMB_EINVAL;
    if (clean_label(group)) {
        snprintf(out, n, PS_RB_PREFIX "%s-%s", group, role);
        return AMB_OK;
    }
    /* Lowercase, anything else than [a-z0-9] becomes one '-', no '-' at
     * either end; the hash keeps "Team_A" and "team-a" apart. */
    char part[GROUP_PART_MAX + 1];
    size_t len = 0;
    for (const char *p = group; *p && len < GROUP_PART_MAX; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        if (c == '-' && (len == 0 || part[len - 1] == '-'))
            continue;
        part[len++] = c;
    }
    while (len > 0 && part[len - 1] == '-')
        len--;
    part[len] = '\0';
    snprintf(out, n, PS_RB_PREFIX "%s%s%08x-%s", part, len ? "-" : "", (unsigned)fnv1a(group),
             role);
    return AMB_OK;
}
