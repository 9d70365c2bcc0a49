/* A tiny static program for tests/e2e/jailer.sh to run through
 * ember-jailer where ember cannot show a limit by itself:
 *   jailer_probe write N   writes N bytes to /probe.out (RLIMIT_FSIZE ends
 *                          it with SIGXFSZ past the limit), says "wrote N"
 *   jailer_probe fds       opens / until it cannot (RLIMIT_NOFILE), says
 *                          "opened N: <why it stopped>"
 * The jailer puts Firecracker's flags (--id ID --start-time-us N ...) first,
 * as for ember; the probe skips them.
 * Built by the suite with gcc -static; no libc beyond what that gives. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    while (argc >= 3 && !strncmp(argv[1], "--", 2)) { /* a flag and its value */
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (argc == 3 && !strcmp(argv[1], "write")) {
        long want = atol(argv[2]), done = 0;
        static char buf[65536];
        int fd = open("/probe.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) {
            printf("open /probe.out: %s\n", strerror(errno));
            return 1;
        }
        while (done < want) {
            size_t n = want - done < (long)sizeof(buf) ? (size_t)(want - done) : sizeof(buf);
            ssize_t w = write(fd, buf, n);
            if (w <= 0) {
                printf("write after %ld bytes: %s\n", done, w < 0 ? strerror(errno) : "0");
                return 1;
            }
            done += w;
        }
        printf("wrote %ld\n", done);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "fds")) {
        int n = 0;
        while (open("/", O_RDONLY) >= 0)
            n++;
        printf("opened %d: %s\n", n, strerror(errno));
        return 0;
    }
    fprintf(stderr, "usage: jailer_probe write N | fds\n");
    return 2;
}
