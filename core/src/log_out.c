/* log_out.c — see log-out-internal.h. Each thread that gathers lines has a
 * buffer on a list. A flusher thread, woken by a buffer's first line,
 * writes every buffer out AMBD_LOG_BUFFER_MS later; a buffer's lock is
 * taken by its own thread appending and by whoever writes it out, so it
 * is almost never waited for. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log-out-internal.h"

struct line_buffer {
    pthread_mutex_t lock;
    struct line_buffer *prev, *next; /* every thread's, under buffers_lock */
    int fd;                          /* where its lines go */
    size_t len;
    char data[AMBD_LOG_BUFFER_BYTES];
};

static pthread_mutex_t buffers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct line_buffer *buffers;
static _Thread_local struct line_buffer *own;
static pthread_key_t own_key; /* its destructor writes a thread's lines when it ends */
static pthread_once_t set_up_once = PTHREAD_ONCE_INIT;
static int set_up;            /* the key and the flusher exist */

/* A buffer had its first line since the flusher last went round. */
static atomic_int pending;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static void write_all(int fd, const char *p, size_t left)
{
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        left -= (size_t)n;
    }
}

/* With b->lock held, or b out of everyone else's reach. */
static void drain(struct line_buffer *b)
{
    if (b->len)
        write_all(b->fd, b->data, b->len);
    b->len = 0;
}

void ambd_log_out_flush(void)
{
    pthread_mutex_lock(&buffers_lock);
    for (struct line_buffer *b = buffers; b; b = b->next) {
        pthread_mutex_lock(&b->lock);
        drain(b);
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&buffers_lock);
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "log-flush"); /* as top -H and perf show it */
    const struct timespec window = {0, AMBD_LOG_BUFFER_MS * 1000000L};
    for (;;) {
        pthread_mutex_lock(&wake_lock);
        while (!atomic_load(&pending))
            pthread_cond_wait(&wake, &wake_lock);
        pthread_mutex_unlock(&wake_lock);
        nanosleep(&window, NULL);
        atomic_store(&pending, 0); /* a first line from now on wakes the next round */
        ambd_log_out_flush();
    }
    return NULL;
}

static void thread_ends(void *arg)
{
    struct line_buffer *b = arg;
    pthread_mutex_lock(&buffers_lock);
    if (b->prev)
        b->prev->next = b->next;
    else
        buffers = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&buffers_lock);
    drain(b);
    pthread_mutex_destroy(&b->lock);
    free(b);
    own = NULL;
}

static void set_up_flusher(void)
{
    if (pthread_key_create(&own_key, thread_ends) != 0)
        return;
    /* Signals are for the daemon's own threads, never the flusher. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_t t;
    int ok = pthread_attr_init(&attr) == 0;
    ok = ok && pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
         pthread_create(&t, &attr, flusher, NULL) == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        pthread_key_delete(own_key);
        return;
    }
    atexit(ambd_log_out_flush);
    set_up = 1;
}

/* The calling thread's buffer, made on its first line; NULL: none to be had. */
static struct line_buffer *own_buffer(void)
{
    if (own)
        return own;
    pthread_once(&set_up_once, set_up_flusher);
    struct line_buffer *b = set_up ? malloc(sizeof *b) : NULL;
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    b->len = 0;
    b->fd = -1;
    b->prev = NULL;
    if (pthread_setspecific(own_key, b) != 0) {
        pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
    }
    pthread_mutex_lock(&buffers_lock);
    b->next = buffers;
    if (buffers)
        buffers->prev = b;
    buffers = b;
    pthread_mutex_unlock(&buffers_lock);
    return own = b;
}

void ambd_log_out_now(int fd, const char *line, size_t len)
{
    if (own) {
        pthread_mutex_lock(&own->lock);
        drain(own);
        pthread_mutex_unlock(&own->lock);
    }
    write_all(fd, line, len);
}

void ambd_log_out_gather(int fd, const char *line, size_t len)
{
    struct line_buffer *b = len <= AMBD_LOG_BUFFER_BYTES ? own_buffer() : NULL;
    if (!b) {
        ambd_log_out_now(fd, line, len);
        return;
    }
    pthread_mutex_lock(&b->lock);
    if (b->len && (b->fd != fd || b->len + len > sizeof b->data))
        drain(b);
    int first = b->len == 0;
    memcpy(b->data + b->len, line, len);
    b->len += len;
    b->fd = fd;
    pthread_mutex_unlock(&b->lock);
    if (first && !atomic_exchange(&pending, 1)) {
        pthread_mutex_lock(&wake_lock);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&wake_lock);
    }
}
