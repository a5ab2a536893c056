/* json.log (containerdir.Log): see jsonlog.h. Read: docker's "JSON File logging driver". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonlog.h"

void put(struct buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void drop_front(struct buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->n - n);
    b->n -= n;
}

static const char *log_path;
static long long max_size;
static int max_file = 1, log_fd = -1;
static long long log_size;

static int log_open(int trunc)
{
    return open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | trunc, 0640);
}

int jsonlog_open(const char *path, long long size_limit, int files)
{
    struct stat st;
    log_path = path;
    max_size = size_limit;
    max_file = files > 0 ? files : 1;
    log_fd = log_open(0);
    log_size = log_fd >= 0 && fstat(log_fd, &st) == 0 ? st.st_size : 0;
    return log_fd;
}

void rfc3339(char out[40])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

static void log_put(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;             /* disk full or dir removed: drop, keep the container going */
        }
        log_size += w;
        p += w;
        n -= w;
    }
}

static void log_rotate(void)
{
    char src[4096], dst[4096];
    for (int n = max_file - 1; n > 0; n--) {
        if (n == 1)
            snprintf(src, sizeof src, "%s", log_path);
        else
            snprintf(src, sizeof src, "%s.%d", log_path, n - 1);
        snprintf(dst, sizeof dst, "%s.%d", log_path, n);
        if (access(src, F_OK) == 0 && rename(src, dst) < 0)
            return;             /* keep writing where we were */
    }
    int fd = log_open(O_TRUNC);
    if (fd < 0)
        return;
    close(log_fd);
    log_fd = fd;
    log_size = 0;
}

/* Python's bytes.decode("utf-8", "replace") then _json.encode_basestring's escapes: each
 * maximal invalid subsequence (Unicode 3.9, table 3-7) becomes one U+FFFD. */
static void json_string(struct buf *o, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            char e[6] = {'\\', 0};
            switch (c) {
            case '"': e[1] = '"'; break;
            case '\\': e[1] = '\\'; break;
            case '\b': e[1] = 'b'; break;
            case '\f': e[1] = 'f'; break;
            case '\n': e[1] = 'n'; break;
            case '\r': e[1] = 'r'; break;
            case '\t': e[1] = 't'; break;
            default:
                if (c < 0x20) {
                    memcpy(e, "\\u00", 4);
                    e[4] = hex[c >> 4];
                    e[5] = hex[c & 15];
                    put(o, e, 6);
                } else {
                    put(o, s + i, 1);
                }
                i++;
                continue;
            }
            put(o, e, 2);
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) need = 2;
        else if (c == 0xED) { need = 2; hi = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else if (c == 0xF4) { need = 3; hi = 0x8F; }
        else { put(o, "\xef\xbf\xbd", 3); i++; continue; }
        size_t k = 1;
        while (k <= need && i + k < n) {
            unsigned d = s[i + k];
            if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF))
                break;
            k++;
        }
        if (k == need + 1)
            put(o, s + i, k);
        else
            put(o, "\xef\xbf\xbd", 3);
        i += k;
    }
    put(o, "\"", 1);
}

static struct buf batch, entry;

/* One line of Log._write: its JSON entry goes into the batch; a batch that would take the
 * file past max_size is written first and the file rotated (the entry starts the new one). */
static void log_line(const char *stream, const char *now, const char *p, size_t n)
{
    entry.n = 0;
    put(&entry, "{\"log\":", 7);
    json_string(&entry, (const unsigned char *)p, n);
    put(&entry, ",\"stream\":\"", 11);
    put(&entry, stream, strlen(stream));
    put(&entry, "\",\"time\":\"", 10);
    put(&entry, now, strlen(now));
    put(&entry, "\"}\n", 3);
    if (max_size && log_size + (long long)(batch.n + entry.n) > max_size &&
            log_size + (long long)batch.n > 0) {
        log_put(batch.p, batch.n);
        batch.n = 0;
        log_rotate();
    }
    put(&batch, entry.p, entry.n);
}

/* Log.feed (and Log.flush with ``flush``): whole lines, or 16 KiB pieces, of what came so
 * far, all with one time stamp; the rest waits for more. */
void log_feed(struct stream *s, const char *data, size_t n, int flush)
{
    struct buf *b = &s->partial;
    size_t start = 0;
    char now[40] = "";
    put(b, data, n);
    for (;;) {
        size_t len;
        const char *nl = memchr(b->p + start, '\n', b->n - start);
        if (nl && (size_t)(nl - (b->p + start)) < MAX_LINE)
            len = nl - (b->p + start) + 1;
        else if (b->n - start >= MAX_LINE)
            len = MAX_LINE;
        else if (flush && b->n > start)
            len = b->n - start;
        else
            break;
        if (!now[0])
            rfc3339(now);
        log_line(s->name, now, b->p + start, len);
        start += len;
    }
    drop_front(b, start);
    if (!b->n) {                /* no line under way: its buffer goes too */
        free(b->p);
        *b = (struct buf){0};
    }
    log_put(batch.p, batch.n);
    free(batch.p);              /* a flood's buffers go back, not kept at their peak */
    free(entry.p);
    batch = entry = (struct buf){0};
}
