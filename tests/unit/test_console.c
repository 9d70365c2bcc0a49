#include "console/console.h"
#include "check.h"

static size_t filter(bool *pending, const char *in, char *out, bool *quit)
{
    size_t n = console_filter_escape(pending, (const uint8_t *)in, strlen(in), (uint8_t *)out, quit);
    out[n] = 0;
    return n;
}

TEST(plain_bytes_pass_through)
{
    bool pending = false, quit;
    char out[64];
    CHECK_EQ(filter(&pending, "ls -l\r", out, &quit), 6);
    CHECK(!quit && !strcmp(out, "ls -l\r"));
}

TEST(ctrl_a_x_quits_even_split_across_reads)
{
    bool pending = false, quit;
    char out[64];
    CHECK_EQ(filter(&pending, "ab\001", out, &quit), 2);
    CHECK(pending && !quit);
    filter(&pending, "x", out, &quit);
    CHECK(quit);
}

TEST(ctrl_a_ctrl_a_sends_one_ctrl_a_and_unknown_escapes_pass)
{
    bool pending = false, quit;
    char out[64];
    CHECK_EQ(filter(&pending, "\001\001z", out, &quit), 2);
    CHECK(!quit && out[0] == 1 && out[1] == 'z');
    CHECK_EQ(filter(&pending, "\001c", out, &quit), 2);
    CHECK(!quit && out[0] == 1 && out[1] == 'c');
}

TEST(console_spec_parsing)
{
    struct console_config c;
    CHECK(console_parse("stdio", &c) == 0 && c.kind == CONSOLE_STDIO);
    CHECK(console_parse("none", &c) == 0 && c.kind == CONSOLE_NONE);
    CHECK(console_parse("file:/tmp/x", &c) == 0 && c.kind == CONSOLE_FILE && !strcmp(c.path, "/tmp/x"));
    CHECK(console_parse("file:", &c) < 0);
    CHECK(console_parse("serial", &c) < 0);
}

RUN_TESTS(CASE(plain_bytes_pass_through), CASE(ctrl_a_x_quits_even_split_across_reads),
          CASE(ctrl_a_ctrl_a_sends_one_ctrl_a_and_unknown_escapes_pass), CASE(console_spec_parsing))
