/* mkpattern SIZE SEED: writes SIZE bytes where byte i = (i*7 + SEED) mod 256,
 * the pattern ember's test guest checks an initrd against, except that the
 * first 6 bytes are the cpio "newc" magic, so ember accepts it as an initrd. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mkpattern SIZE SEED\n");
        return 2;
    }
    unsigned long long n = strtoull(argv[1], NULL, 0), seed = strtoull(argv[2], NULL, 0);
    for (unsigned long long i = 0; i < n; i++)
        putchar(i < 6 ? "070701"[i] : (int)((i * 7 + seed) & 0xff));
    return fflush(stdout) ? 1 : 0;
}
