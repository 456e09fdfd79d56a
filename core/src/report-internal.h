/* report-internal.h — the one-line-per-plugin summary printed by
 * "ambientd --check-config". */
#ifndef AMBD_REPORT_INTERNAL_H
#define AMBD_REPORT_INTERNAL_H

#include <stdio.h>

#include "runtime-internal.h"

void ambd_report_plugins(FILE *to, const struct ambd_runtime *rt);

#endif
