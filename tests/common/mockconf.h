/* mockconf.h — a plugin's config group as a table, for mock hosts: the
 * config_* members of the host table answer from it as the real host does
 * (AMB_ENOTFOUND when absent, AMB_EINVAL for the wrong type). A list "x" is
 * its element count under "x" plus elements "x.[i]". */
#ifndef AMBIENT_TEST_MOCKCONF_H
#define AMBIENT_TEST_MOCKCONF_H

#include <stddef.h>

#include "ambient/plugin.h"

struct mock_conf {
    const char *path;
    const char *str; /* NULL: the value is num */
    long long num;
};

/* The table the config_* members answer from (borrowed; NULL for none). */
void mockconf_use(const struct mock_conf *table, size_t n);
/* Sets the config_* members of host. */
void mockconf_fill(struct amb_host *host);

#endif
