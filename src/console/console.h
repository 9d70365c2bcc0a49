/* Where the guest's serial console goes and where its input comes from.
 *   stdio: output to stdout; input from stdin. A terminal is put in raw mode
 *          (restored on every exit path) and Ctrl-A x quits ember (Ctrl-A
 *          Ctrl-A sends a literal Ctrl-A). A pipe is passed through verbatim.
 *   file:PATH: output appended to PATH, no input.
 *   none: output discarded, no input.
 * Input runs on its own thread and feeds the UART only as fast as the guest
 * drains the receive FIFO, so no byte is dropped. */
#ifndef EMBER_CONSOLE_CONSOLE_H
#define EMBER_CONSOLE_CONSOLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE };

struct console_config {
    enum console_kind kind;
    const char *path; /* for CONSOLE_FILE */
};

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

struct console_input_sink {
    size_t (*receive)(void *ctx, const uint8_t *buf, size_t len); /* returns bytes accepted */
    void (*quit)(void *ctx);                                      /* escape sequence typed */
    void *ctx;
};

struct console {
    enum console_kind kind;
    bool opened;
    int out_fd;
    int in_fd;          /* -1 when there is no input */
    bool in_is_tty;
    bool raw_mode;
    struct termios saved_termios;
    int wake_efd;       /* rx space in the UART, or stop */
    atomic_bool stopping;
    bool thread_started;
    pthread_t thread;
    struct console_input_sink sink;
    bool escape_pending;
    bool output_broken; /* stdout closed by the reader: stop writing */
};

int console_open(struct console *con, const struct console_config *cfg);
/* Parses "stdio", "none" or "file:PATH". Returns -1 on anything else. */
int console_parse(const char *spec, struct console_config *cfg);
void console_write(struct console *con, const uint8_t *buf, size_t len);
int console_start_input(struct console *con, const struct console_input_sink *sink);
/* The UART freed receive space: the input thread may feed more. */
void console_notify_rx_space(struct console *con);
/* Stops the input thread and restores the terminal. Safe to call twice. */
void console_close(struct console *con);

/* Escape processing on a chunk of terminal input, exposed for tests: copies
 * bytes to `out` (returns count) and sets *quit when Ctrl-A x was typed. */
size_t console_filter_escape(bool *escape_pending, const uint8_t *in, size_t len, uint8_t *out, bool *quit);

#endif
