/* plugin.c — the projectsettings plugin's descriptor and init: registers
 * the ProjectSettings kind (vteam.ambient-code/v1alpha1) with its
 * validate, set_defaults and reconcile, owning the group RoleBindings.
 * The plugin has no config keys. */
#include "ps.h"

const struct amb_host *ps_host;
struct amb_module *ps_self;

const struct amb_resource ps_projectsettings = {AMB_GROUP, AMB_GROUP_VERSION, AMB_SETTINGS_KIND,
                                                AMB_SETTINGS_PLURAL, 1};
const struct amb_resource ps_rolebindings = {"rbac.authorization.k8s.io", "v1", "RoleBinding",
                                             "rolebindings", 1};
const struct amb_resource ps_secrets = {"", "v1", "Secret", "secrets", 1};

static int ps_init(const struct amb_host *host, struct amb_module *self, void **state,
                   struct amb_error *err)
{
    (void)state;
    ps_host = host;
    ps_self = self;
    if (!AMB_HAS(host, requeue))
        return host->error_set(err, AMB_EUNSUPPORTED, NULL,
                               "needs plugin ABI 1.1 (Kubernetes access for kinds)");
    struct amb_kind kind = {
        .size = sizeof kind,
        .resource = ps_projectsettings,
        .owns = &ps_rolebindings,
        .n_owns = 1,
        .validate = ps_validate,
        .set_defaults = ps_set_defaults,
        .reconcile = ps_reconcile,
    };
    int rc = host->register_kind(self, &kind, NULL, NULL);
    return rc == AMB_OK ? ps_register_routes() : rc;
}

static const struct amb_plugin descriptor = {
    AMB_PLUGIN_HEADER,
    .name = "projectsettings",
    .version = "1.0.0",
    .description = "ProjectSettings: project defaults, runner Secret, group RoleBindings",
    .init = ps_init,
};

AMB_DEFINE_PLUGIN(descriptor)
