/* secret.c — secrets of a forge plugin: files read once (a webhook secret,
 * an App's private key) and comparisons that take the same time whatever
 * the bytes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "forgekit.h"

int fk_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256(a, alen, da);
    SHA256(b, blen, db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

int fk_secret_read(const struct fk_env *env, const char *path, const char *field, char **out,
                   struct amb_error *err)
{
    const struct amb_host *h = env->host;
    /* no O_NOFOLLOW: Kubernetes mounts Secret keys as symlinks */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return h->error_set(err, errno == ENOENT ? AMB_ENOTFOUND : AMB_EIO, field,
                            "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return h->error_set(err, AMB_EINVAL, field, "%s is not a regular file", path);
    }
    char *buf = h->alloc(FK_MAX_SECRET + 1);
    size_t n = 0;
    ssize_t got = 1;
    while (buf && n <= FK_MAX_SECRET && got > 0) {
        got = read(fd, buf + n, FK_MAX_SECRET + 1 - n);
        if (got < 0 && errno == EINTR)
            got = 1;
        else if (got > 0)
            n += (size_t)got;
    }
    close(fd);
    int rc = AMB_OK;
    if (!buf)
        return h->error_set(err, AMB_ENOMEM, NULL, "out of memory");
    if (got < 0)
        rc = h->error_set(err, AMB_EIO, field, "cannot read %s", path);
    else if (n > FK_MAX_SECRET)
        rc = h->error_set(err, AMB_ETOOLARGE, field, "%s is larger than %d bytes", path,
                          FK_MAX_SECRET);
    while (rc == AMB_OK && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (rc == AMB_OK && (n == 0 || memchr(buf, '\0', n)))
        rc = h->error_set(err, AMB_EINVAL, field, "%s is empty or holds a NUL byte", path);
    if (rc != AMB_OK) {
        fk_secret_free(env, buf);
        return rc;
    }
    buf[n] = '\0';
    h->log_secret(env->self, buf);
    *out = buf;
    return AMB_OK;
}

void fk_secret_free(const struct fk_env *env, char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, FK_MAX_SECRET + 1);
    env->host->free(secret);
}
