/* json.log, docker's json-file format, as pycontainer/containerdir.py's Log writes it:
 * the half of the C monitor (monitor.c) that turns output into log lines.
 *
 * Each line is {"log": TEXT, "stream": "stdout"|"stderr", "time": RFC 3339 with ns};
 * lines longer than 16 KiB are split; TEXT is the bytes decoded as UTF-8 with U+FFFD for
 * invalid sequences, then escaped as Python's _json.encode_basestring (so both monitors
 * write the same bytes); a write that would take the file past max_size rotates it first
 * (json.log -> json.log.1 -> ... -> json.log.N-1). */
#ifndef PYCONTAINER_JSONLOG_H
#define PYCONTAINER_JSONLOG_H
#include <stddef.h>

#define MAX_LINE (16 * 1024)

struct buf { char *p; size_t n, cap; };
void put(struct buf *b, const void *s, size_t n);
void drop_front(struct buf *b, size_t n);
void rfc3339(char out[40]);

/* one of the program's streams: its pipe, and the line it has not finished yet */
struct stream { const char *name; int fd; struct buf partial; int fed; };

/* open ``path`` for appending (0640); max_size 0: never rotate; -1 if it cannot be opened
 * (the lines are then dropped: the container is never held up by its log) */
int jsonlog_open(const char *path, long long max_size, int max_file);
/* Log.feed (and Log.flush with ``flush``): whole lines, or 16 KiB pieces, written now */
void log_feed(struct stream *s, const char *data, size_t n, int flush);

#endif
