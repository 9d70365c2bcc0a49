/* ember-jailer's command line: ids, uids, --cgroup and --resource-limit
 * values, --parent-cgroup paths, and the whole parse (defaults, "--",
 * duplicate and missing flags, --allow-root). Each refusal is one line
 * that names the flag and the value. */
#include "jailer/args.h"
#include "check.h"

#include <string.h>

static struct jerr e;

/* Parses the arguments after argv[0]. The compound literal lives to the
 * end of the calling block, as the parsed strings (argv's) must. */
static int parse_list(struct jail_args *a, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return jail_args_parse(argc, argv, a, &e);
}
#define PARSE(a, ...) parse_list((a), (char *[]){"ember-jailer", __VA_ARGS__, NULL})

#define REQUIRED "--id", "vm-1", "--exec-file", "build/ember", "--uid", "1000", "--gid", "1001"

TEST(an_id_is_1_to_64_letters_digits_and_hyphens)
{
    CHECK_EQ(jail_id_check("a", &e), 0);
    CHECK_EQ(jail_id_check("551e7604-e35c-42b3-b825-416853441234", &e), 0);
    char id[66];
    memset(id, 'x', 64);
    id[64] = 0;
    CHECK_EQ(jail_id_check(id, &e), 0);
    id[64] = 'x';
    id[65] = 0;
    CHECK_EQ(jail_id_check(id, &e), -1);
    CHECK(strstr(e.msg, "65 characters"));
    CHECK_EQ(jail_id_check("", &e), -1);
    CHECK(strstr(e.msg, "0 characters; an id is 1 to 64"));
    static const char *const bad[] = {"vm_1", "vm.1", "vm/1", "..", "vm 1", "vm\n", "vm\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(jail_id_check(bad[i], &e), -1);
        CHECK(strstr(e.msg, "is not a letter, digit or hyphen"));
    }
    CHECK_EQ(jail_id_check("vm_1", &e), -1);
    CHECK(!strcmp(e.msg, "--id 'vm_1': character 3 is not a letter, digit or hyphen"));
}

TEST(uids_and_gids_are_plain_decimal_numbers)
{
    uint32_t v = 7;
    CHECK_EQ(jail_id_number_parse("--uid", "0", &v, &e), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(jail_id_number_parse("--uid", "4294967294", &v, &e), 0);
    CHECK_EQ(v, 4294967294u);
    /* -1 means "unchanged" to setresuid: never a uid to run as. */
    static const char *const bad[] = {"4294967295", "-1", "", " 1", "1 ", "+1", "0x10", "1e3", "root", "99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(jail_id_number_parse("--uid", bad[i], &v, &e), -1);
    CHECK_EQ(jail_id_number_parse("--gid", "root", &v, &e), -1);
    CHECK(!strcmp(e.msg, "--gid 'root': not a number from 0 to 4294967294"));
}

TEST(resource_limits_are_fsize_or_no_file)
{
    struct jail_rlimits r = {.nofile = JAIL_DEFAULT_NOFILE};
    CHECK_EQ(jail_rlimit_parse("fsize=2097151", &r, &e), 0);
    CHECK(r.fsize_set);
    CHECK_EQ(r.fsize, 2097151);
    CHECK_EQ(jail_rlimit_parse("no-file=1024", &r, &e), 0);
    CHECK_EQ(r.nofile, 1024);
    CHECK_EQ(jail_rlimit_parse("fsize=0", &r, &e), 0);
    CHECK_EQ(r.fsize, 0);
    CHECK_EQ(jail_rlimit_parse("nofile=3", &r, &e), -1);
    CHECK(strstr(e.msg, "unknown resource 'nofile' (fsize or no-file)"));
    CHECK_EQ(jail_rlimit_parse("fsize", &r, &e), -1);
    CHECK(strstr(e.msg, "expected fsize=N or no-file=N"));
    CHECK_EQ(jail_rlimit_parse("fsize=", &r, &e), -1);
    CHECK_EQ(jail_rlimit_parse("fsize=1k", &r, &e), -1);
    CHECK(strstr(e.msg, "'1k' is not a number"));
    CHECK_EQ(jail_rlimit_parse("fsize=-1", &r, &e), -1);
    CHECK_EQ(jail_rlimit_parse("fsize=18446744073709551615", &r, &e), -1); /* RLIM_INFINITY */
    CHECK_EQ(jail_rlimit_parse("fsize=18446744073709551616", &r, &e), -1);
    CHECK_EQ(r.fsize, 0); /* a refused value changes nothing */
}

TEST(a_cgroup_setting_is_controller_dot_property_equals_value)
{
    struct jail_cgroup_setting s;
    CHECK_EQ(jail_cgroup_setting_parse("cpu.shares=512", &s, &e), 0);
    CHECK(!strcmp(s.file, "cpu.shares") && !strcmp(s.controller, "cpu") && !strcmp(s.value, "512"));
    CHECK_EQ(jail_cgroup_setting_parse("hugetlb.2MB.limit_in_bytes=0", &s, &e), 0);
    CHECK(!strcmp(s.controller, "hugetlb") && !strcmp(s.file, "hugetlb.2MB.limit_in_bytes"));
    /* The value is everything after the first '=' (v2's io.max). */
    CHECK_EQ(jail_cgroup_setting_parse("io.max=8:0 rbps=1000", &s, &e), 0);
    CHECK(!strcmp(s.file, "io.max") && !strcmp(s.value, "8:0 rbps=1000"));
    static const char *const bad[] = {"cpu.shares",   "cpu.shares=", "=5",          "cpushares=5", ".shares=5",
                                      "cpu.=5",       "../cpu.x=1",  "cpu/../x.y=1", "cpu.sh ares=1", "cpu.x=a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ(jail_cgroup_setting_parse(bad[i], &s, &e), -1);
        CHECK(!strncmp(e.msg, "--cgroup '", 10));
    }
    CHECK_EQ(jail_cgroup_setting_parse("cpu.shares", &s, &e), -1);
    CHECK(!strcmp(e.msg, "--cgroup 'cpu.shares': expected FILE=VALUE, e.g. cpu.shares=512"));
}

TEST(a_parent_cgroup_is_a_relative_path_that_cannot_climb)
{
    CHECK_EQ(jail_parent_cgroup_check("ember", &e), 0);
    CHECK_EQ(jail_parent_cgroup_check("custom_cgroup/group2", &e), 0);
    static const char *const bad[] = {"", "/abs", "a/../b", "..", ".", "a//b", "a/", "./a", "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(jail_parent_cgroup_check(bad[i], &e), -1);
}

TEST(the_defaults_are_firecrackers)
{
    struct jail_args a;
    int rc = PARSE(&a, REQUIRED); /* here, not in CHECK_EQ's block: a points into the literal */
    CHECK_EQ(rc, 0);
    CHECK(!strcmp(a.id, "vm-1") && !strcmp(a.exec_file, "build/ember"));
    CHECK_EQ(a.uid, 1000);
    CHECK_EQ(a.gid, 1001);
    CHECK(!strcmp(a.chroot_base, "/srv/jailer"));
    CHECK_EQ(a.cgroup_version, 1);
    CHECK(!a.netns && !a.parent_cgroup && !a.daemonize && !a.new_pid_ns && !a.allow_root);
    CHECK_EQ(a.ncgroups, 0);
    CHECK(!a.rlimits.fsize_set);
    CHECK_EQ(a.rlimits.nofile, 2048);
    CHECK_EQ(a.exec_argc, 0);
    CHECK(a.exec_argv[0] == NULL);
}

TEST(every_flag_and_the_arguments_after_the_double_dash)
{
    struct jail_args a;
    int rc = PARSE(&a, REQUIRED, "--chroot-base-dir=/tmp/j", "--netns", "/var/run/netns/x", "--daemonize",
                   "--new-pid-ns", "--cgroup", "cpu.shares=2", "--cgroup=cpuset.cpus=0", "--cgroup-version", "2",
                   "--parent-cgroup", "a/b", "--resource-limit", "fsize=10", "--resource-limit", "no-file=64",
                   "--", "--api-sock", "/run/ember.sock", "--", "x");
    CHECK_EQ(rc, 0);
    CHECK(!strcmp(a.chroot_base, "/tmp/j") && !strcmp(a.netns, "/var/run/netns/x"));
    CHECK(a.daemonize && a.new_pid_ns);
    CHECK_EQ(a.ncgroups, 2);
    CHECK(!strcmp(a.cgroups[1].file, "cpuset.cpus") && !strcmp(a.cgroups[1].value, "0"));
    CHECK_EQ(a.cgroup_version, 2);
    CHECK(!strcmp(a.parent_cgroup, "a/b"));
    CHECK(a.rlimits.fsize_set && a.rlimits.fsize == 10 && a.rlimits.nofile == 64);
    /* Everything after the first "--" is ember's, a second "--" included. */
    CHECK_EQ(a.exec_argc, 4);
    CHECK(!strcmp(a.exec_argv[0], "--api-sock") && !strcmp(a.exec_argv[2], "--") && a.exec_argv[4] == NULL);
}

TEST(usage_errors_are_one_line_naming_the_flag)
{
    struct jail_args a;
    CHECK_EQ(PARSE(&a, "--id", "vm1", "--exec-file", "x", "--uid", "1"), -1);
    CHECK(!strcmp(e.msg, "missing --gid (ember-jailer --help)"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--id", "vm2"), -1);
    CHECK(!strcmp(e.msg, "--id given twice"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--bogus"), -1);
    CHECK(!strcmp(e.msg, "unknown flag '--bogus' (ember-jailer --help lists them)"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--netns"), -1);
    CHECK(!strcmp(e.msg, "--netns needs a value"));
    /* A flag is not taken for the previous flag's value. */
    CHECK_EQ(PARSE(&a, "--id", "--uid", "1", "--gid", "1", "--exec-file", "x"), -1);
    CHECK(!strcmp(e.msg, "--id needs a value"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--daemonize=yes"), -1);
    CHECK(!strcmp(e.msg, "--daemonize takes no value"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--api-sock", "/x"), -1);
    CHECK(!strcmp(e.msg, "unknown flag '--api-sock' (ember-jailer --help lists them)"));
    CHECK_EQ(PARSE(&a, REQUIRED, "stray"), -1);
    CHECK(!strcmp(e.msg, "unexpected argument 'stray': ember's own arguments go after --"));
    CHECK_EQ(PARSE(&a, REQUIRED, "--cgroup-version", "3"), -1);
    CHECK(!strcmp(e.msg, "--cgroup-version '3': 1 or 2"));
    CHECK_EQ(PARSE(&a, "--id", "vm1", "--exec-file", "x", "--uid", "nobody", "--gid", "1"), -1);
    CHECK(!strcmp(e.msg, "--uid 'nobody': not a number from 0 to 4294967294"));
    CHECK_EQ(PARSE(&a, "--id", "vm1", "--exec-file", "", "--uid", "1", "--gid", "1"), -1);
    CHECK(!strcmp(e.msg, "--exec-file: empty"));
}

TEST(uid_0_needs_allow_root)
{
    struct jail_args a;
    CHECK_EQ(PARSE(&a, "--id", "vm1", "--exec-file", "x", "--uid", "0", "--gid", "0"), -1);
    CHECK(strstr(e.msg, "--uid 0: ember would run as root inside the jail; give --allow-root"));
    CHECK_EQ(PARSE(&a, "--id", "vm1", "--exec-file", "x", "--uid", "0", "--gid", "0", "--allow-root"), 0);
    CHECK(a.allow_root && a.uid == 0);
}

TEST(help_and_version_need_nothing_else)
{
    struct jail_args a;
    CHECK_EQ(PARSE(&a, "--help"), 0);
    CHECK(a.help);
    CHECK_EQ(PARSE(&a, "-h"), 0);
    CHECK(a.help);
    CHECK_EQ(PARSE(&a, "--version"), 0);
    CHECK(a.version);
    CHECK(strstr(jail_usage(), "--resource-limit fsize=N|no-file=N"));
}

RUN_TESTS(CASE(an_id_is_1_to_64_letters_digits_and_hyphens), CASE(uids_and_gids_are_plain_decimal_numbers),
          CASE(resource_limits_are_fsize_or_no_file), CASE(a_cgroup_setting_is_controller_dot_property_equals_value),
          CASE(a_parent_cgroup_is_a_relative_path_that_cannot_climb), CASE(the_defaults_are_firecrackers),
          CASE(every_flag_and_the_arguments_after_the_double_dash), CASE(usage_errors_are_one_line_naming_the_flag),
          CASE(uid_0_needs_allow_root), CASE(help_and_version_need_nothing_else))
