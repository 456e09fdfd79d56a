/* kubeapi_tls.c — the local API over TLS, for kubectl (which sends a
 * bearer token only over TLS): a self-signed certificate for 127.0.0.1
 * and localhost made at the first start (<data>/kube-tls.crt, the key in
 * <data>/kube-tls.key, 0600) and reused after, and <data>/kubeconfig,
 * which points kubectl at the TLS address with that certificate and the
 * admin token file. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kubeapi.h"

#define CERT_DAYS 3650

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *cert = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = cert && kapi_random(serial, sizeof serial) == 0 &&
             (bn = BN_bin2bn(serial, sizeof serial, NULL)) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) &&
             X509_set_version(cert, 2) && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * CERT_DAYS) &&
             X509_set_pubkey(cert, key) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                                        (const unsigned char *)"ambient local API", -1, -1, 0) &&
             X509_set_issuer_name(cert, X509_get_subject_name(cert)) &&
             add_ext(cert, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost") &&
             add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(cert, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
             add_ext(cert, NID_ext_key_usage, "serverAuth") &&
             X509_sign(cert, key, EVP_sha256());
    BN_free(bn);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* Writes a PEM file atomically with mode; 0 or -1. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_X509(f, cert);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static int make_cert(const char *crt, const char *key_path, char *err, size_t n)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = key ? self_signed(key) : NULL;
    int rc = cert && write_pem(key_path, 0600, key, NULL) == 0 &&
                     write_pem(crt, 0644, NULL, cert) == 0
                 ? 0
                 : -1;
    if (rc)
        snprintf(err, n, "%s: cannot make the TLS certificate", crt);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int kapi_tls_init(struct kapi *api, const char *data_dir, char *err, size_t n)
{
    char key[PATH_MAX];
    if (snprintf(api->cert_file, sizeof api->cert_file, "%s/kube-tls.crt", data_dir) >=
            (int)sizeof api->cert_file ||
        snprintf(key, sizeof key, "%s/kube-tls.key", data_dir) >= (int)sizeof key ||
        snprintf(api->kubeconfig_file, sizeof api->kubeconfig_file, "%s/kubeconfig", data_dir) >=
            (int)sizeof api->kubeconfig_file) {
        snprintf(err, n, "%s: the data directory's path is too long", data_dir);
        return -1;
    }
    struct stat st;
    if (stat(api->cert_file, &st) != 0 && make_cert(api->cert_file, key, err, n) != 0)
        return -1;
    api->ssl = SSL_CTX_new(TLS_server_method());
    if (!api->ssl || !SSL_CTX_set_min_proto_version(api->ssl, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(api->ssl, api->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(api->ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(api->ssl) != 1) {
        snprintf(err, n, "%s: not a usable certificate and key (%s)", api->cert_file,
                 ERR_reason_error_string(ERR_get_error()));
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int kapi_write_kubeconfig(const struct kapi *api, char *err, size_t n)
{
    json_t *cfg = json_pack(
        "{s:s, s:s, s:[{s:s, s:{s:s, s:s}}], s:[{s:s, s:{s:s}}], "
        "s:[{s:s, s:{s:s, s:s}}], s:s}",
        "apiVersion", "v1", "kind", "Config", "clusters", "name", "ambient-local", "cluster",
        "server", api->tls_url, "certificate-authority", api->cert_file, "users", "name",
        "admin", "user", "tokenFile", api->token_file, "contexts", "name", "ambient-local",
        "context", "cluster", "ambient-local", "user", "admin", "current-context",
        "ambient-local");
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", api->kubeconfig_file);
    int rc = cfg && json_dump_file(cfg, tmp, JSON_INDENT(2)) == 0 && chmod(tmp, 0600) == 0 &&
                     rename(tmp, api->kubeconfig_file) == 0
                 ? 0
                 : -1;
    json_decref(cfg);
    if (rc)
        snprintf(err, n, "%s: cannot write it", api->kubeconfig_file);
    return rc;
}
