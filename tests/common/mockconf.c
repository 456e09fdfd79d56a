/* mockconf.c — the config_* host members over a table (mockconf.h). */
#include "mockconf.h"

#include <string.h>

static const struct mock_conf *table;
static size_t n_table;

void mockconf_use(const struct mock_conf *t, size_t n)
{
    table = t;
    n_table = t ? n : 0;
}

static const struct mock_conf *find(const char *path)
{
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(table[i].path, path) == 0)
            return &table[i];
    return NULL;
}

static int conf_string(struct amb_module *self, const char *path, const char **out)
{
    (void)self;
    const struct mock_conf *c = find(path);
    if (!c)
        return AMB_ENOTFOUND;
    if (!c->str)
        return AMB_EINVAL;
    *out = c->str;
    return AMB_OK;
}

static int conf_int(struct amb_module *self, const char *path, long long *out)
{
    (void)self;
    const struct mock_conf *c = find(path);
    if (!c)
        return AMB_ENOTFOUND;
    if (c->str)
        return AMB_EINVAL;
    *out = c->num;
    return AMB_OK;
}

static int conf_bool(struct amb_module *self, const char *path, int *out)
{
    long long v = 0;
    int rc = conf_int(self, path, &v);
    if (rc == AMB_OK)
        *out = v != 0;
    return rc;
}

static int conf_count(struct amb_module *self, const char *path, size_t *out)
{
    long long v = 0;
    int rc = conf_int(self, path, &v);
    if (rc == AMB_OK)
        *out = (size_t)v;
    return rc;
}

void mockconf_fill(struct amb_host *host)
{
    host->config_string = conf_string;
    host->config_int = conf_int;
    host->config_bool = conf_bool;
    host->config_count = conf_count;
}
