/* local_datadir.h — laptop mode's data directory: where it is by default,
 * making it (0700), telling ours from a foreign one, and the lock that
 * keeps a second ambientd off it. */
#ifndef AMBIENT_LOCAL_DATADIR_H
#define AMBIENT_LOCAL_DATADIR_H

#include <stddef.h>

/* The file that marks a directory as an Ambient data directory. */
#define LOCAL_DATADIR_MARKER "ambient-data"

struct local_datadir {
    char *path;   /* absolute */
    int lock_fd;  /* holds flock on <path>/lock while we run */
};

/* $XDG_DATA_HOME/ambient, else $HOME/.local/share/ambient; caller frees.
 * NULL with a message in err when neither is set. */
char *local_datadir_default(char *err, size_t err_len);

/* Makes path (and its parents, 0700) when missing, checks it is ours — a
 * new or empty directory gets the marker; a non-empty one without it, one
 * owned by someone else or writable by others is refused — and takes the
 * lock (the file names the holder's pid, for the message another ambientd
 * prints). 0, or -1 with a message naming the directory in err. */
int local_datadir_open(const char *path, struct local_datadir *out, char *err, size_t err_len);

/* Releases the lock. */
void local_datadir_close(struct local_datadir *d);

#endif
